"""imagenet-resnet.py on hostile or broken input: every case ends in one clear error line (no
traceback), and SIGTERM ends a run in any state within seconds."""
import json
import os
import stat
import shutil
import signal
import time

import numpy as np
import pytest

from conftest import run_driver
from webvision.weights.checkpoints import read_weights
from helpers.images import png_claiming
from helpers.driver import SMALL, loaders_of, start_training



def assert_one_line_error(proc, message):
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert 'error: ' + message in proc.stderr, proc.stderr[-3000:]


def copy_meta(demo_root, root):
    shutil.copytree(os.path.join(demo_root, 'meta'), os.path.join(root, 'meta'))
    return os.path.join(root, 'meta', 'train.txt')


def test_training_where_no_image_decodes_stops_naming_the_log(demo_root, tmp_path):
    root, logdir = str(tmp_path / 'html'), str(tmp_path / 'run')
    with open(copy_meta(demo_root, root)) as f:
        names = [line.split()[0] for line in f if line.strip()]
    for name in names:                                   # error pages saved under the images' names
        os.makedirs(os.path.dirname(os.path.join(root, 'train', name)), exist_ok=True)
        with open(os.path.join(root, 'train', name), 'wb') as f:
            f.write(b'<html><body>404 Not Found</body></html>')
    started = time.time()
    proc = run_driver(*SMALL, '--data', root, '--logdir', logdir, '--no-val', '--epochs', 1,
                      '--steps-per-epoch', 10000, timeout=300, check=False)
    assert_one_line_error(proc, 'more than 50% of the last 1,000 training images a loader tried could not be decoded')
    assert os.path.join(logdir, 'bad_images.txt') in proc.stderr
    assert time.time() - started < 240
    with open(os.path.join(logdir, 'bad_images.txt')) as f:
        assert 1000 <= sum(1 for _ in f) <= 4000                         # bounded: a window or so per loader


def test_sigterm_ends_a_run_whose_loaders_hang(demo_root, tmp_path):
    logdir = str(tmp_path / 'hung')
    proc = start_training(demo_root, logdir, '--epochs', '1', '--steps-per-epoch', '10000')
    loaders = []
    try:
        loaders = loaders_of(proc)
        for p in loaders:                                # a loader stuck on a dead network mount
            p.suspend()
        time.sleep(15)                                   # the trainer is now waiting for data inside TensorFlow
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        started = time.time()
        code = proc.wait(timeout=40)
        assert time.time() - started < 30 and code == 143
        with open(os.path.join(logdir, 'out.txt')) as f:
            assert 'Traceback' not in f.read()
    finally:
        for p in loaders:
            try:
                p.kill()
            except Exception:
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_predict_refuses_an_oversized_image_and_goes_on(demo_root, trained_run, tmp_path):
    huge = str(tmp_path / 'huge.png')
    with open(huge, 'wb') as f:
        f.write(png_claiming(100000, 100000))
    with open(os.path.join(demo_root, 'meta', 'val.txt')) as f:
        good = os.path.join(demo_root, 'val', f.readline().split()[0])
    proc = run_driver(*SMALL, '--data', demo_root, '--load', trained_run, '--predict', huge, good, check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert '{}: cannot predict: too large: 100000 x 100000 pixels, over the limit of 89,478,485'.format(huge) in proc.stderr
    assert proc.stdout.splitlines()[0] == good and len(proc.stdout.splitlines()) == 6


def test_eval_refuses_non_finite_probabilities(demo_root, trained_run, tmp_path):
    weights = read_weights(trained_run)
    weights['linear/b'] = np.full_like(weights['linear/b'], np.nan)
    npz, out = str(tmp_path / 'nan.npz'), str(tmp_path / 'p.json')
    np.savez(npz, **weights)
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', npz, '--predictions', out, check=False)
    assert_one_line_error(proc, '{}: '.format(npz))
    assert 'got probabilities that are not finite (NaN or infinity)' in proc.stderr
    assert not os.path.exists(out)


def test_eval_checks_the_predictions_path_first(demo_root, trained_run, tmp_path):
    out = str(tmp_path / 'no' / 'p.json')
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', out, check=False)
    assert_one_line_error(proc, '--predictions {}: the folder {} does not exist'.format(out, tmp_path / 'no'))
    assert 'eval' not in proc.stderr.split('error: ')[0].split('\n')[-1]


@pytest.mark.parametrize('content', [b'', b'PK\x03\x04 cut short', None])
def test_damaged_weight_files_are_named(demo_root, trained_run, tmp_path, content):
    npz = str(tmp_path / 'w.npz')
    if content is None:                                  # a real file, cut in half
        np.savez(npz, **read_weights(trained_run))
        with open(npz, 'rb') as f:
            content = f.read()[:os.path.getsize(npz) // 2]
    with open(npz, 'wb') as f:
        f.write(content)
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', npz, check=False)
    assert_one_line_error(proc, '{}: cannot be read as weights'.format(npz))


def test_bad_list_lines_are_one_line_errors(demo_root, tmp_path):
    root = str(tmp_path / 'root')
    train = copy_meta(demo_root, root)
    os.symlink(os.path.join(demo_root, 'train'), os.path.join(root, 'train'))
    with open(train) as f:
        n = sum(1 for _ in f)
    with open(train, 'ab') as f:
        f.write(b'extra.jpg 99\n')
    args = SMALL + ['--data', root, '--logdir', str(tmp_path / 'run'), '--no-val', '--epochs', 1]
    proc = run_driver(*args, check=False)
    assert_one_line_error(proc, '{}:{}: label 99 is outside [0, 12)'.format(train, n + 1))
    with open(train, 'ab') as f:
        f.write(b'caf\xe9.jpg 1\n')
    with open(train, 'rb') as f:
        lines = f.read().split(b'\n')
    with open(train, 'wb') as f:
        f.write(b'\n'.join(lines[:n] + lines[n + 1:]))
    proc = run_driver(*args, check=False)
    assert_one_line_error(proc, "{}:{}: not UTF-8 text: byte b'\\xe9'".format(train, n + 1))


def hostile_val_root(demo_root, root):
    """A root whose val list has 2 good images, a folder, a FIFO and a link to /dev/zero."""
    copy_meta(demo_root, root)
    os.makedirs(os.path.join(root, 'val'))
    with open(os.path.join(demo_root, 'meta', 'val.txt')) as f:
        good = [line.split() for line in f if line.strip()][:2]
    for name, _ in good:
        shutil.copy(os.path.join(demo_root, 'val', name), os.path.join(root, 'val', name))
    os.makedirs(os.path.join(root, 'val', 'adir.jpg'))
    os.mkfifo(os.path.join(root, 'val', 'pipe.jpg'))
    os.symlink('/dev/zero', os.path.join(root, 'val', 'zero.jpg'))
    rows = good + [['adir.jpg', '0'], ['pipe.jpg', '1'], ['zero.jpg', '2']]
    with open(os.path.join(root, 'meta', 'val.txt'), 'w') as f:
        f.writelines('{} {}\n'.format(*r) for r in rows)
    return [r[0] for r in rows]


def test_eval_of_folders_fifos_and_devices_predicts_each_once_without_hanging(demo_root, trained_run, tmp_path):
    root, out = str(tmp_path / 'root'), str(tmp_path / 'p.json')
    names = hostile_val_root(demo_root, root)
    proc = run_driver(*SMALL, '--data', root, '--eval', '--load', trained_run, '--predictions', out, timeout=300)
    log = proc.stdout + proc.stderr         # tensorpack's logger writes to stdout
    assert 'Traceback' not in log
    assert '3 of 5 images in {} could not be decoded'.format(os.path.join(root, 'meta', 'val.txt')) in log
    for name in names[2:]:          # one warning each, though tensorpack decodes the first batch twice
        assert log.count('{}: not decodable'.format(os.path.join(root, 'val', name))) == 1, log[-3000:]
    assert [p['file'] for p in json.load(open(out))] == names
    assert stat.S_ISFIFO(os.lstat(os.path.join(root, 'val', 'pipe.jpg')).st_mode)


def test_predict_and_training_pass_over_a_listed_folder(demo_root, trained_run, tmp_path):
    root = str(tmp_path / 'root')
    names = hostile_val_root(demo_root, root)
    folder, good = os.path.join(root, 'val', 'adir.jpg'), os.path.join(root, 'val', names[0])
    proc = run_driver(*SMALL, '--data', root, '--load', trained_run, '--predict', folder, good, check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert '{}: cannot predict: not a regular file: a folder'.format(folder) in proc.stderr
    assert proc.stdout.splitlines()[0] == good
    train = os.path.join(root, 'meta', 'train.txt')
    with open(train) as f:
        lines = f.read().splitlines()
    first = lines[0].split()[0]
    os.makedirs(os.path.join(root, 'train', os.path.dirname(first)))
    os.makedirs(os.path.join(root, 'train', first))               # the first training image is a folder
    for line in lines[1:]:
        name = line.split()[0]
        os.makedirs(os.path.dirname(os.path.join(root, 'train', name)), exist_ok=True)
        shutil.copy(os.path.join(demo_root, 'train', name), os.path.join(root, 'train', name))
    logdir = str(tmp_path / 'run')
    run_driver(*SMALL, '--data', root, '--logdir', logdir, '--epochs', 1, '--steps-per-epoch', 3, '--no-val',
               '--workers', 1, timeout=300)
    assert os.path.exists(os.path.join(logdir, 'model-3.index'))
    with open(os.path.join(logdir, 'bad_images.txt')) as f:
        bad = set(f.read().splitlines())
    assert bad <= {'{}\tnot a regular file: a folder'.format(os.path.join(root, 'train', first))}


def test_eval_outputs_never_replace_an_input_a_device_or_each_other(demo_root, trained_run, tmp_path):
    out = str(tmp_path / 'p.npy')
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', out,
                      '--save-probs', out, check=False)
    assert_one_line_error(proc, '--save-probs {}: is also --predictions {}; refusing'.format(out, out))
    index = trained_run_checkpoint(trained_run) + '.index'
    before = open(index, 'rb').read()
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', index, check=False)
    assert_one_line_error(proc, '--predictions {}: is also --load {}; refusing to overwrite an input'.format(index, index))
    assert open(index, 'rb').read() == before
    fifo = str(tmp_path / 'fifo.npy')
    os.mkfifo(fifo)
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', str(tmp_path / 'p.json'),
                      '--save-probs', fifo, check=False)
    assert_one_line_error(proc, '--save-probs {}: is a FIFO; refusing to replace it'.format(fifo))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_the_probabilities_say_ema_only_for_a_checkpoint_with_an_average(demo_root, trained_run, tmp_path):
    probs = str(tmp_path / 'p.npy')
    run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', str(tmp_path / 'p.json'),
               '--save-probs', probs)
    assert json.load(open(probs + '.json'))['ema'] is False          # trained without --ema: no average in it


def trained_run_checkpoint(logdir):
    from webvision.weights.checkpoints import latest_checkpoint
    return latest_checkpoint(logdir)
