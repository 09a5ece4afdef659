"""imagenet-resnet.py's recipe and evaluation flags end to end: a run with mixing, a robust loss,
the weight average and per-image losses, killed with SIGKILL and resumed; test-time augmentation
against mirrored copies; --train-list from utils/split_noisy.py."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from conftest import made_once, run_driver
from helpers.driver import SMALL, kill_after_checkpoint
from helpers.programs import run_program
from webvision.weights.checkpoints import latest_checkpoint, read_weights
from webvision.train.lr import learning_rate_at

RECIPE = ['--mixup', '0.2', '--cutmix', '1.0', '--mix-off-epoch', '2', '--label-smoothing', '0.1', '--loss', 'gce',
          '--ema', '0.99', '--sample-loss', '--lr-schedule', 'cosine']


@pytest.fixture(scope='session')
def recipe_run(demo_root, tmp_path_factory):
    """A 3-epoch recipe run, killed with SIGKILL after its first checkpoint and rerun to the end, made
    once per test run (conftest.made_once): (logdir, the checkpoint killed at, its weights, the log)."""
    def make(folder):
        logdir = os.path.join(folder, 'run')
        args = SMALL + ['--data', demo_root, '--logdir', logdir, '--epochs', '3', '--steps-per-epoch', '4'] + RECIPE
        kill_after_checkpoint(args, logdir, 'model-4')
        killed_at = latest_checkpoint(logdir)
        np.savez(os.path.join(folder, 'kept.npz'), **read_weights(killed_at))
        out = run_driver(*args)
        with open(os.path.join(folder, 'log.txt'), 'w') as f:
            f.write(killed_at + '\n' + out.stdout + out.stderr)
    folder = made_once(tmp_path_factory, 'recipe-run', make)
    killed_at, log = open(os.path.join(folder, 'log.txt')).read().split('\n', 1)
    return os.path.join(folder, 'run'), killed_at, dict(np.load(os.path.join(folder, 'kept.npz'))), log


def test_recipe_run_resumes_with_its_average_and_step(recipe_run):
    logdir, killed_at, kept, log = recipe_run
    step = int(killed_at.rsplit('-', 1)[1])
    assert 'Resuming from {}: global step {}'.format(killed_at, step) in log
    assert 'started from the initial weights' not in log          # restored, not restarted
    assert latest_checkpoint(logdir).endswith('model-12')
    final = read_weights(latest_checkpoint(logdir))
    assert final['global_step'] == 12
    averaged = [k for k in final if k.endswith('/ExponentialMovingAverage')]
    assert 'conv0/W/ExponentialMovingAverage' in averaged and 'conv0/bn/mean/EMA/ExponentialMovingAverage' in averaged
    assert set(averaged) == {k for k in kept if k.endswith('/ExponentialMovingAverage')}
    assert not np.array_equal(final['linear/W/ExponentialMovingAverage'], final['linear/W'])
    stats = json.load(open(os.path.join(logdir, 'stats.json')))
    assert [s['epoch_num'] for s in stats] == [1, 2, 3]
    for s in stats:
        assert s['learning_rate'] == pytest.approx(learning_rate_at(
            s['global_step'] - 1, base_lr=0.1 * 16 / 256, steps_per_epoch=4, epochs=3, kind='cosine'), rel=1e-5)
        assert np.isfinite(s['gce-loss']) and 0 <= s['val-ema-balanced-error-top5'] <= 1
        assert 0 <= s['val-error-top1'] <= 1


def test_sample_losses_have_one_entry_per_training_line(recipe_run, demo_root):
    logdir = recipe_run[0]
    lines = sum(1 for _ in open(os.path.join(demo_root, 'meta', 'train.txt')))
    for epoch in (1, 2, 3):
        losses = np.load(os.path.join(logdir, 'sample_loss', 'epoch-{}.npy'.format(epoch)), allow_pickle=False)
        assert losses.dtype == np.float16 and losses.shape == (lines,)
        seen = np.isfinite(losses)
        assert 0 < seen.sum() <= 4 * 16 and (losses[seen] >= 0).all()
    assert not [n for n in os.listdir(os.path.join(logdir, 'sample_loss')) if 'partial' in n]


def test_eval_uses_the_average_and_no_ema_the_weights(recipe_run, demo_root, tmp_path):
    logdir = recipe_run[0]
    last = json.load(open(os.path.join(logdir, 'stats.json')))[-1]
    for flags, prefix in (([], 'val-ema-'), (['--no-ema'], 'val-')):
        out = run_driver(*SMALL, '--data', demo_root, '--eval', '--load', latest_checkpoint(logdir),
                         '--predictions', tmp_path / 'p.json', *flags).stdout
        top5 = float(out.split('Top5 Error: ')[1].split()[0])
        assert top5 == pytest.approx(last[prefix + 'error-top5'], abs=2.5 / 163)     # up to two near-ties


def test_split_noisy_list_trains_with_train_list(recipe_run, demo_root, tmp_path):
    root = str(tmp_path / 'root')
    shutil.copytree(demo_root, root, symlinks=True)
    losses = os.path.join(recipe_run[0], 'sample_loss', 'epoch-{}.npy')
    assert run_program('split_noisy', '--losses', *[losses.format(e) for e in (1, 2, 3)], '--list',
                       os.path.join(root, 'meta', 'train.txt'), '--out',
                       os.path.join(root, 'meta', 'train_clean.txt')).returncode == 0
    kept = open(os.path.join(root, 'meta', 'train_clean.txt')).read().splitlines()
    assert 0 < len(kept) < sum(1 for _ in open(os.path.join(root, 'meta', 'train.txt')))
    out = run_driver(*SMALL, '--data', root, '--logdir', tmp_path / 'clean', '--epochs', 1, '--steps-per-epoch', 1,
                     '--no-val', '--train-list', 'train_clean')
    assert latest_checkpoint(str(tmp_path / 'clean')).endswith('model-1'), out.stderr[-2000:]
    missing = run_driver(*SMALL, '--data', root, '--logdir', tmp_path / 'x', '--train-list', 'nope', check=False)
    assert missing.returncode == 1 and 'meta/nope.txt' in missing.stderr


def png_root(demo_root, folder, mirror):
    """The first 24 validation images of the demo set as PNG (lossless), mirrored or not."""
    os.makedirs(os.path.join(folder, 'meta'))
    os.makedirs(os.path.join(folder, 'val'))
    for name in ('synsets.txt', 'synset_words.txt'):
        shutil.copy(os.path.join(demo_root, 'meta', name), os.path.join(folder, 'meta', name))
    lines = open(os.path.join(demo_root, 'meta', 'val.txt')).read().splitlines()[:24]
    with open(os.path.join(folder, 'meta', 'val.txt'), 'w') as f:
        for line in lines:
            name, label = line.split()
            im = cv2.imread(os.path.join(demo_root, 'val', name))
            png = name.rsplit('.', 1)[0] + '.png'
            cv2.imwrite(os.path.join(folder, 'val', png), im[:, ::-1] if mirror else im)
            f.write('{} {}\n'.format(png, label))
    return folder


def test_tta_flip_is_the_mean_over_the_images_and_their_mirrors(recipe_run, demo_root, tmp_path):
    load = latest_checkpoint(recipe_run[0])
    plain, mirrored = png_root(demo_root, str(tmp_path / 'a'), False), png_root(demo_root, str(tmp_path / 'b'), True)
    probs = {}
    for name, root, flags in (('a', plain, []), ('b', mirrored, []), ('flip', plain, ['--tta', 'flip'])):
        path = str(tmp_path / '{}.npy'.format(name))
        run_driver(*SMALL, '--data', root, '--eval', '--load', load, '--predictions', tmp_path / (name + '.json'),
                   '--save-probs', path, *flags)
        probs[name] = np.load(path, allow_pickle=False).astype(np.float32)
        about = json.load(open(path + '.json'))
        assert about['tta'] == (flags[1] if flags else 'none') and about['images'] == 24 and about['ema'] is True
    assert probs['flip'].shape == (24, 12)
    np.testing.assert_allclose(probs['flip'], (probs['a'] + probs['b']) / 2, atol=2e-3)
    assert not np.allclose(probs['a'], probs['b'], atol=2e-3)      # the mirror changed something


def test_recipe_on_two_towers(demo_root, tmp_path):
    """Each tower mixes its own half-batch and reports its images' losses; validation runs on both towers twice."""
    logdir = str(tmp_path / 'towers')
    out = run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--gpu', '0,1', '--data-format', 'NHWC',
                     '--epochs', '1', '--steps-per-epoch', '3', *RECIPE)
    assert '2 tower(s) of batch 8' in out.stdout + out.stderr
    losses = np.load(os.path.join(logdir, 'sample_loss', 'epoch-1.npy'))
    assert 8 < np.isfinite(losses).sum() <= 3 * 16          # more than one tower's share
    stats = json.load(open(os.path.join(logdir, 'stats.json')))[-1]
    assert 0 <= stats['val-ema-error-top1'] <= 1 and 0 <= stats['val-error-top1'] <= 1
    assert 'conv0/W/ExponentialMovingAverage' in read_weights(latest_checkpoint(logdir))
