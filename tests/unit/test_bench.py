"""bench/ (the tree's benchmarks, run by make bench): learning.py's own arithmetic, the epoch times
it reads from a tensorpack log and the logistic-regression floor on the real digits."""
import importlib.util
import os

import pytest

from conftest import ROOT


@pytest.fixture(scope='module')
def learning():
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(os.path.join(ROOT, 'bench'))          # its `from common import ...`
    spec = importlib.util.spec_from_file_location('bench_learning', os.path.join(ROOT, 'bench', 'learning.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    mp.undo()


def test_epoch_times_are_read_from_tensorpacks_lines(learning):
    log = ('[1202 06:47:16 @base.py:282] Epoch 1 (global_step 44) finished, time:12 seconds.\n'
           '[1202 06:47:17 @monitor.py:476] val-error-top1: 0.75833\n'
           '[1202 06:47:29 @base.py:282] Epoch 2 (global_step 88) finished, time:12.2 seconds.\n'
           '[1202 06:49:29 @base.py:282] Epoch 3 (global_step 132) finished, time:1 minute 3 seconds.\n'
           '[1202 07:49:29 @base.py:282] Epoch 4 (global_step 176) finished, time:1 hour 2 minutes 5 seconds.\n')
    assert learning.epoch_seconds(log) == pytest.approx([12., 12.2, 63., 3725.])


def test_the_floor_is_logistic_regression_on_the_held_out_digits(learning, tmp_path):
    from webvision.data.digits import write_root
    clean, noisy = str(tmp_path / 'clean'), str(tmp_path / 'noisy')
    write_root(clean)
    write_root(noisy, noise=0.6)
    floor, worse = learning.logistic_regression(clean), learning.logistic_regression(noisy)
    assert 0.01 < floor < 0.08 and floor < worse < 0.5         # real held-out error; noise costs it
