"""LOGDIR/config.yaml written by a training run, read by --eval of that run and compared on resuming."""
import os

import pytest

from conftest import run_driver
from helpers.driver import SMALL
from webvision.core import config


def test_a_run_writes_its_settings_and_eval_takes_its_model_flags_from_them(demo_root, tmp_path):
    logdir = str(tmp_path / 'run')
    run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--epochs', 1, '--steps-per-epoch', 2, '--no-val')
    saved = config.read_config(os.path.join(logdir, config.FILE_NAME))
    assert (saved['depth'], saved['image_size'], saved['batch'], saved['data']) == (18, 64, 16, demo_root)
    assert saved['lr'] == pytest.approx(0.1 * 16 / 256) and saved['steps_per_epoch'] == 2
    out = str(tmp_path / 'p.json')
    proc = run_driver('--data', demo_root, '--eval', '--load', logdir, '--predictions', out, '--workers', 1)
    assert 'Model flags of {}: depth 18, mode resnet, group_width 4, image_size 64'.format(
        os.path.join(logdir, config.FILE_NAME)) in proc.stderr
    assert 'Top5 Error' in proc.stdout and os.path.isfile(out)
    resumed = run_driver(*SMALL, '--data', demo_root, '--logdir', logdir, '--epochs', 2, '--steps-per-epoch', 2,
                         '--no-val', '--lr', 0.01)
    assert 'had other settings; this start: epochs: 1 -> 2; lr: 0.00625 -> 0.01' in resumed.stdout + resumed.stderr
    assert config.read_config(os.path.join(logdir, config.FILE_NAME))['lr'] == 0.01
