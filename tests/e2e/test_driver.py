"""imagenet-resnet.py end to end in real processes on the demo set: train, kill, resume,
load another head, evaluate, benchmark, and its argument errors."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import DRIVER, ROOT, run_driver
from helpers.driver import SMALL, kill_after_checkpoint, loaders_of, start_training
from helpers.programs import run_program
from webvision.weights.checkpoints import latest_checkpoint, read_weights
from webvision.train.lr import learning_rate_at


def read_list(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def test_batch_that_does_not_divide_across_towers_is_refused():
    """The process's side of a refused flag (the checks themselves are unit tests): status 2, the
    usage and the message, before TensorFlow loads."""
    proc = run_driver('--gpu', '0,1,2', '--batch', '256', check=False)
    assert proc.returncode == 2
    assert '--batch 256 does not split evenly across 3 towers' in proc.stderr
    assert 'e.g. 255 or 258' in proc.stderr


def test_fake_prints_images_per_second(tmp_path):
    proc = run_driver('--fake', '-d', '18', '--image-size', '64', '--batch', '8', '--steps-per-epoch', '3',
                      '--epochs', '1', '--logdir', tmp_path / 'fake')
    rate = float(re.search(r'^images/s: ([\d.]+)$', proc.stdout, re.M).group(1))
    assert rate > 0
    assert 'data format NHWC' in proc.stdout + proc.stderr      # channels-last on the CPU


def newest_step(logdir):
    return int(latest_checkpoint(logdir).rsplit('-', 1)[1])


def test_killed_run_resumes_at_its_checkpoint(demo_root, tmp_path):
    logdir = str(tmp_path / 'run')
    args = SMALL + ['--data', demo_root, '--logdir', logdir, '--epochs', '3', '--steps-per-epoch', '4']
    kill_after_checkpoint(args, logdir, 'model-4')
    step = newest_step(logdir)
    assert step in (4, 8)

    out = run_driver(*args)
    log = out.stdout + out.stderr
    assert 'global step {}, epoch {}'.format(step, step // 4 + 1) in log
    assert newest_step(logdir) == 12
    with open(os.path.join(logdir, 'stats.json')) as f:
        stats = json.load(f)
    assert [s['epoch_num'] for s in stats] == [1, 2, 3]
    assert [s['global_step'] for s in stats] == [4, 8, 12]
    for s in stats:      # the schedule continued: the last step of each epoch used lr(step - 1)
        assert s['learning_rate'] == pytest.approx(
            learning_rate_at(s['global_step'] - 1, base_lr=0.1 * 16 / 256, steps_per_epoch=4, epochs=3), rel=1e-5)
        assert 0 <= s['val-balanced-error-top1'] <= 1 and 0 <= s['val-error-top5'] <= 1


def test_load_skips_a_head_of_another_shape(demo_root, trained_run, tmp_path):
    weights = read_weights(trained_run)
    weights['linear/W'] = np.random.RandomState(0).randn(512, 1000).astype('float32')
    weights['linear/b'] = np.zeros(1000, 'float32')
    npz = str(tmp_path / 'in1k.npz')
    np.savez(npz, **weights)
    logdir = str(tmp_path / 'finetune')
    proc = run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--load', npz, '--lr', '0',
                      '--epochs', '1', '--steps-per-epoch', '2', '--no-val')
    log = proc.stdout + proc.stderr
    assert re.search(r'Skipped \(shape differs\) linear/W: \(512, 1000\) in .* but \(512, 12\) in the model', log)
    after = read_weights(logdir)
    np.testing.assert_array_equal(after['conv0/W'], weights['conv0/W'])     # lr 0: loaded weights kept
    assert after['linear/W'].shape == (512, 12)
    assert after['global_step'] == 2                                         # a new run, not a resume


def test_eval_prints_errors_and_writes_predictions_in_list_order(demo_root, trained_run, tmp_path):
    path = str(tmp_path / 'pred.json')
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', path)
    printed = dict(re.findall(r'^(Top1|Top5|Balanced Top1|Balanced Top5) Error: ([\d.]+)$', proc.stdout, re.M))
    assert len(printed) == 4
    with open(path) as f:
        records = json.load(f)
    listed = read_list(os.path.join(demo_root, 'meta', 'val.txt'))
    assert [r['file'] for r in records] == [name for name, _ in listed]
    assert [r['label'] for r in records] == [int(label) for _, label in listed]
    for r in records:
        assert len(set(r['top5'])) == 5 and all(0 <= c < 12 for c in r['top5'])
        assert r['prob'] == sorted(r['prob'], reverse=True) and 0 <= r['prob'][-1] <= r['prob'][0] <= 1
    top1 = np.mean([r['top5'][0] != r['label'] for r in records])
    assert float(printed['Top1']) == pytest.approx(top1, abs=1e-4)
    # the same checkpoint, so the same errors as validation logged at the end of training
    # (fails if batch-norm statistics are not loaded)
    with open(os.path.join(trained_run, 'stats.json')) as f:
        last = json.load(f)[-1]
    for name, key in (('Top1', 'val-error-top1'), ('Balanced Top1', 'val-balanced-error-top1'),
                      ('Top5', 'val-error-top5'), ('Balanced Top5', 'val-balanced-error-top5')):
        assert float(printed[name]) == pytest.approx(last[key], abs=1e-4), name


def test_eval_on_a_test_root_writes_unlabelled_predictions_beside_the_checkpoint(demo_root, trained_run):
    test_root = demo_root + '-test'
    proc = run_driver(*SMALL, '--data', test_root, '--eval', '--load', trained_run)
    assert 'no errors are computed' in proc.stdout
    path = os.path.join(trained_run, 'model-3.webvision-demo-test.predictions.json')
    with open(path) as f:
        records = json.load(f)
    listed = read_list(os.path.join(test_root, 'meta', 'val.txt'))
    assert len(records) == len(listed)
    assert all(r['label'] is None for r in records)
    # ... and from there to a CodaLab submission
    sub = os.path.join(trained_run, 'submission.txt')
    assert run_program('json2sub', '--predictions', path, '--test-list', os.path.join(test_root, 'meta', 'val.txt'),
                       '--out', sub).returncode == 0
    lines = [line.split() for line in open(sub)]
    assert [line[0] for line in lines] == [name for name, _ in listed]
    assert all(len(line) == 6 and len({int(c) for c in line[1:]} & set(range(12))) == 5 for line in lines)


def test_eval_on_two_towers_matches_one(demo_root, trained_run, tmp_path):
    # towers are placed on GPUs where there are any; here they fall back to the CPU
    one, two = str(tmp_path / 'one.json'), str(tmp_path / 'two.json')
    run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', one)
    run_driver(*SMALL, '--data', demo_root, '--eval', '--load', trained_run, '--predictions', two,
               '--gpu', '0,1', '--data-format', 'NHWC')
    a, b = json.load(open(one)), json.load(open(two))
    assert [r['top5'] for r in a] == [r['top5'] for r in b]
    np.testing.assert_allclose([r['prob'] for r in a], [r['prob'] for r in b], atol=1e-5)


def test_eval_refuses_a_checkpoint_of_another_class_count(demo_root, trained_run, tmp_path):
    weights = read_weights(trained_run)
    weights['linear/W'] = np.zeros((512, 5000), 'float32')
    npz = str(tmp_path / 'other.npz')
    np.savez(npz, **weights)
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', npz, check=False)
    assert proc.returncode != 0
    assert '(512, 5000)' in proc.stderr and '(512, 12)' in proc.stderr


def test_latest_checkpoint_does_not_need_the_state_file(trained_run, tmp_path):
    import shutil
    folder = tmp_path / 'ckpts'
    shutil.copytree(trained_run, str(folder))
    os.remove(str(folder / 'checkpoint'))                       # killed before TF updated it
    open(str(folder / 'model-9.index'), 'w').close()             # a newer save without its data
    assert latest_checkpoint(str(folder)) == str(folder / 'model-3')


def test_a_run_without_a_gpu_says_so_in_its_log(trained_run):
    """Its validation tower is built on /cpu:0 (tensorpack's default said /gpu:0 on any machine)."""
    with open(os.path.join(trained_run, 'log.log')) as f:
        log = f.read()
    assert "Building tower 'InferenceTower' on device /cpu:0" in log and '/gpu:0' not in log


def test_predict_prints_the_top5_with_the_data_names(demo_root, trained_run):
    images = [os.path.join(demo_root, 'val', name) for name, _ in read_list(os.path.join(demo_root, 'meta', 'val.txt'))[:2]]
    proc = run_driver(*SMALL, '--data', demo_root, '--load', trained_run, '--predict', *images)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 12 and lines[0] == images[0] and lines[6] == images[1]
    for block in (lines[1:6], lines[7:12]):
        probs = [float(re.match(r"^(\d\.\d\d) - 'n990000\d\d [a-z ,]+'$", line).group(1)) for line in block]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.03


def test_predict_reports_an_unreadable_image(demo_root, trained_run, tmp_path):
    bad = str(tmp_path / 'bad.jpg')
    open(bad, 'wb').close()
    proc = run_driver(*SMALL, '--data', demo_root, '--load', trained_run, '--predict', bad, check=False)
    assert proc.returncode == 1 and 'bad.jpg: cannot predict: empty file' in proc.stderr


def test_finetune_drops_the_head_and_can_freeze_the_trunk(demo_root, trained_run, tmp_path):
    logdir = str(tmp_path / 'ft')
    proc = run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--load', trained_run, '--finetune',
                      '--lr', '0.1', '--trunk-lr-mult', '0', '--epochs', '1', '--steps-per-epoch', '2', '--no-val')
    assert 'Dropped linear/W' in proc.stdout + proc.stderr
    before, after = read_weights(trained_run), read_weights(logdir)
    np.testing.assert_array_equal(after['group3/block1/conv2/W'], before['group3/block1/conv2/W'])
    np.testing.assert_array_equal(after['conv0/W'], before['conv0/W'])
    assert np.abs(after['linear/W'] - before['linear/W']).max() > 1e-3      # a new head, trained


def test_finetuning_converted_weights_validates_and_evaluates_with_their_transform(demo_root, trained_run, tmp_path):
    from webvision.data import transform as tr
    npz, logdir = str(tmp_path / 'converted.npz'), str(tmp_path / 'ft')
    np.savez(npz, **read_weights(trained_run), **tr.npz_entry(tr.TORCHVISION))       # as convert_torch.py writes
    run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--load', npz, '--finetune', '--epochs', 1,
               '--steps-per-epoch', 2)
    assert tr.read_transform(os.path.join(logdir, 'model-2')) == tr.TORCHVISION     # recorded in the run
    with open(os.path.join(logdir, 'stats.json')) as f:
        assert 'val-error-top1' in json.load(f)[-1]                              # validated with it
    proc = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', logdir, '--predictions', tmp_path / 'p.json')
    assert 'Evaluation transform: torchvision: Resize(73) of the shorter side' in proc.stdout + proc.stderr  # 64 x 256/224
    assert 'Top1 Error' in proc.stdout


def test_export_gives_the_drivers_probabilities(demo_root, trained_run, tmp_path):
    import cv2
    import onnxruntime
    import tensorflow as tf
    from tensorpack.dataflow import imgaug
    from tensorpack.predict import OfflinePredictor, PredictConfig
    from webvision.model.contract import fbresnet_augmentor
    from webvision.weights.checkpoints import WeightLoader
    from webvision.model.resnet import ResNetModel

    out = str(tmp_path / 'export')
    run_driver(*SMALL, '--load', trained_run, '--export', out)
    names = [name for name, _ in read_list(os.path.join(demo_root, 'meta', 'val.txt'))[:3]]
    augs = imgaug.AugmentorList(fbresnet_augmentor(False, 64))
    images = np.stack([augs.augment(cv2.imread(os.path.join(demo_root, 'val', n))) for n in names])

    driver = OfflinePredictor(PredictConfig(
        model=ResNetModel(18, num_classes=12, image_size=64), session_init=WeightLoader(trained_run, strict=True),
        input_names=['input'], output_names=['prob']))(images)[0]
    onnx = onnxruntime.InferenceSession(os.path.join(out, 'model.onnx')).run(None, {'input:0': images})[0]
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ['serve'], os.path.join(out, 'saved_model'))
        sig = meta.signature_def['serving_default']
        assert set(sig.inputs) == {'input'} and set(sig.outputs) == {'prob'}
        saved = sess.run(sig.outputs['prob'].name, {sig.inputs['input'].name: images})
    assert driver.shape == (3, 12)
    with open(os.path.join(out, 'saved_model', 'assets.extra', 'preprocessing.json')) as f:
        note = json.load(f)
    assert note['kind'] == 'toolkit' and note['description'].startswith('uint8 BGR [N, 64, 64, 3] made by toolkit')
    import onnx as onnx_lib
    meta = {p.key: p.value for p in onnx_lib.load(os.path.join(out, 'model.onnx')).metadata_props}
    assert json.loads(meta['preprocessing']) == note
    np.testing.assert_allclose(onnx, driver, atol=1e-5)
    np.testing.assert_allclose(saved, driver, atol=1e-5)


def test_two_towers_train_synchronously(demo_root, tmp_path):
    # one tower per --gpu id; without GPUs the towers and their all-reduce run on the CPU
    logdir = str(tmp_path / 'towers')
    proc = run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--gpu', '0,1', '--data-format', 'NHWC',
                      '--epochs', '1', '--steps-per-epoch', '2')
    log = proc.stdout + proc.stderr
    assert '2 tower(s) of batch 8' in log and 'Training a model of 2 towers' in log
    assert newest_step(logdir) == 2
    with open(os.path.join(logdir, 'stats.json')) as f:
        assert 0 <= json.load(f)[-1]['val-balanced-error-top1'] <= 1


def test_loaders_end_when_the_trainer_is_killed(demo_root, tmp_path):
    import psutil
    proc = start_training(demo_root, str(tmp_path / 'orphans'), '--epochs', '1', '--steps-per-epoch', '10000')
    try:
        loaders = loaders_of(proc)
        time.sleep(3)                                   # they are serving data
        os.kill(proc.pid, signal.SIGKILL)               # the trainer only, not its process group
        proc.wait()
        gone, alive = psutil.wait_procs(loaders, timeout=20)
        alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, 'loaders outlived the trainer: {}'.format(alive)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None


def test_a_dead_loader_stops_training_with_an_error(demo_root, tmp_path):
    logdir = str(tmp_path / 'deadloader')
    proc = start_training(demo_root, logdir, '--epochs', '1', '--steps-per-epoch', '10000')
    try:
        victim = loaders_of(proc)[0]
        time.sleep(3)
        victim.kill()
        started = time.time()
        proc.wait(timeout=60)                           # stops within a minute, does not hang
        assert time.time() - started < 60
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    log = open(os.path.join(logdir, 'out.txt')).read()
    assert 'loader process' in log and '(pid {}) died'.format(victim.pid) in log


def test_resuming_another_architecture_is_refused_with_both_shapes(demo_root, trained_run, tmp_path):
    import shutil
    logdir = str(tmp_path / 'other')
    shutil.copytree(trained_run, logdir)
    args = ['-d', '34', '--image-size', '64', '--batch', '16', '--workers', '1', '--data', demo_root,
            '--logdir', logdir, '--epochs', '2', '--steps-per-epoch', '3', '--no-val']
    proc = run_driver(*args, check=False)
    assert proc.returncode == 1
    assert 'is from another model' in proc.stderr
    assert 'group0/block2/conv1/W: (3, 3, 64, 64) in the model, not in the checkpoint' in proc.stderr
    assert newest_step(logdir) == 3                    # nothing was written


def test_incomplete_data_fails_before_training_naming_what_is_missing(demo_root, tmp_path):
    import shutil
    root = str(tmp_path / 'partial')
    shutil.copytree(os.path.join(demo_root, 'meta'), os.path.join(root, 'meta'))
    proc = run_driver(*SMALL, '--data', root, '--logdir', str(tmp_path / 'run'), check=False)
    assert proc.returncode == 1
    assert 'is incomplete: missing {}, {}'.format(os.path.join(root, 'train'), os.path.join(root, 'val')) in proc.stderr
    assert not os.path.exists(str(tmp_path / 'run' / 'checkpoint'))


def test_sigterm_checkpoints_mid_epoch_and_the_rerun_finishes_that_epoch(demo_root, tmp_path):
    logdir, spe = str(tmp_path / 'preempted'), 60     # an epoch of several seconds: room to land inside it
    args = ['--epochs', '2', '--steps-per-epoch', str(spe)]
    proc = start_training(demo_root, logdir, *args)
    deadline = time.time() + 300
    while not os.path.exists(os.path.join(logdir, 'model-{}.index'.format(spe))):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.2)
    time.sleep(1.5)                                     # some steps into epoch 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    step = newest_step(logdir)
    assert spe < step < 2 * spe, step                   # saved where it stopped, mid-epoch

    out = run_driver(*(SMALL + ['--data', demo_root, '--logdir', logdir, '--no-val'] + args))
    log = out.stdout + out.stderr
    assert 'global step {}, epoch 2'.format(step) in log
    assert '{} of its {} steps are left'.format(2 * spe - step, spe) in log
    with open(os.path.join(logdir, 'stats.json')) as f:
        stats = json.load(f)
    assert [(s['epoch_num'], s['global_step']) for s in stats] == [(1, spe), (2, 2 * spe)]
    assert newest_step(logdir) == 2 * spe


def test_a_failed_save_stops_and_keeps_the_previous_checkpoint(demo_root, tmp_path):
    """A checkpoint that cannot be written (here: a file-size limit below its size, as a full disk
    would) stops the run naming the intact previous one; rerunning resumes from it."""
    logdir = str(tmp_path / 'full')
    common = SMALL + ['--data', demo_root, '--logdir', logdir, '--no-val', '--steps-per-epoch', 3]
    run_driver(*common, '--epochs', 1)
    proc = run_driver(*common, '--epochs', 2, check=False, limits={'RLIMIT_FSIZE': 8 << 20})
    assert proc.returncode == 1
    assert 'could not write checkpoint {}/model-6'.format(logdir) in proc.stderr
    assert 'The previous checkpoint {}/model-3 is intact'.format(logdir) in proc.stderr
    assert not [f for f in os.listdir(logdir) if f.startswith('model-6')]      # nothing half-written
    assert latest_checkpoint(logdir).endswith('model-3')
    out = run_driver(*common, '--epochs', 2)
    assert 'Resuming from {}/model-3'.format(logdir) in out.stdout + out.stderr
    assert latest_checkpoint(logdir).endswith('model-6')


def test_input_speed_and_queue_fill_are_logged_each_epoch(trained_run):
    log = open(os.path.join(trained_run, 'log.log')).read()
    assert re.search(r'input: the loaders delivered [\d,]+ images/s; the queue held [\d.]+ of 50 batches', log)
    stats = json.load(open(os.path.join(trained_run, 'stats.json')))
    assert stats[-1]['input/images_per_sec'] > 0 and 0 <= stats[-1]['input/queue_fill'] <= 50


def _probs(path):
    records = json.load(open(path))
    return np.array([r['prob'][0] for r in records]), [r['top5'] for r in records]


def test_amp_and_xla_give_the_float32_predictions_within_rounding(trained_run, demo_root, tmp_path):
    paths = {}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='0')     # XLA says when it compiled a cluster
    for flags in ([], ['--amp'], ['--xla']):
        paths[tuple(flags)] = str(tmp_path / 'p{}.json'.format(''.join(flags)))
        args = [str(a) for a in SMALL + ['--data', demo_root, '--eval', '--load', trained_run,
                                         '--predictions', paths[tuple(flags)]] + flags]
        if flags != ['--xla']:
            run_driver(*args)
            continue
        # a fresh process: TensorFlow reads its log level once, and the fork server's has
        proc = subprocess.run([sys.executable, DRIVER] + args, capture_output=True, text=True, timeout=600, cwd=ROOT,
                              env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert 'Compiled cluster using XLA' in proc.stderr
    p32, top32 = _probs(paths[()])
    for flags in (('--amp',), ('--xla',)):
        p, top = _probs(paths[flags])
        # (the model has trained 3 steps: near-uniform probabilities, so rounding may swap neighbours)
        assert np.abs(p - p32).max() < 0.05, flags
        assert np.mean([a[0] in b for a, b in zip(top32, top)]) > 0.95, flags
    assert not np.array_equal(_probs(paths[('--amp',)])[0], p32)       # bfloat16 did run


def test_training_with_amp_and_xla(demo_root, tmp_path):
    logdir = str(tmp_path / 'ampxla')
    run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--epochs', 1, '--steps-per-epoch', 3, '--no-val',
               '--amp', '--xla')
    stats = json.load(open(os.path.join(logdir, 'stats.json')))
    assert np.isfinite(stats[-1]['xentropy-loss']) and latest_checkpoint(logdir).endswith('model-3')
