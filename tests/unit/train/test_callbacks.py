"""webvision/train/callbacks.py: named validation errors, the loader watchdog and the image counter, in-process."""
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest

from webvision.train.callbacks import CountedFlow, LoaderWatchdog, ValidationErrors
from webvision.results.metric import error_rates


def test_validation_errors_are_named_metrics_of_one_pass():
    labels = np.array([0, 0, 1, 2, 2, 2])
    wrong1 = np.array([0, 1, 1, 0, 0, 1], np.float32)
    wrong5 = np.array([0, 0, 1, 0, 0, 0], np.float32)
    v = ValidationErrors(num_classes=4)
    v._before_inference()
    for sl in (slice(0, 4), slice(4, 6)):                  # two batches
        v._on_fetches([wrong1[sl], wrong5[sl], labels[sl]])
    got = v._after_inference()
    want = error_rates(wrong1, wrong5, labels, 4)
    assert got == {'val-error-top1': want['Top1'], 'val-error-top5': want['Top5'],
                   'val-balanced-error-top1': want['Balanced Top1'], 'val-balanced-error-top5': want['Balanced Top5']}
    assert got['val-balanced-error-top1'] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)


class Closed:
    def __init__(self):
        self.calls = 0

    def run(self, session=None):
        self.calls += 1


def test_watchdog_names_the_reason_a_loader_exited_and_closes_the_input():
    dead = SimpleNamespace(name='loader-1', pid=4242, exitcode=3, is_alive=lambda: False)
    alive = SimpleNamespace(is_alive=lambda: True)
    close = Closed()
    dog = LoaderWatchdog(lambda: [alive, dead], SimpleNamespace(thread=SimpleNamespace(close_op=close)),
                         interval=0.01, reasons={3: 'too many bad images'})
    dog.trainer = SimpleNamespace(sess=None)
    dog._before_train()
    deadline = time.time() + 5
    while close.calls == 0 and time.time() < deadline:
        time.sleep(0.01)
    dog._after_train()
    assert dog.error == 'too many bad images' and close.calls == 1
    dead.exitcode = -9
    dog = LoaderWatchdog(lambda: [dead], SimpleNamespace(thread=SimpleNamespace(close_op=Closed())), interval=0.01)
    dog.trainer = SimpleNamespace(sess=None)
    dog._before_train()
    while dog.error is None and time.time() < deadline + 5:
        time.sleep(0.01)
    dog._after_train()
    assert dog.error == 'loader process loader-1 (pid 4242) died with exit code -9; stopping training'


def test_counted_flow_counts_images_not_batches():
    class Batches:
        def __iter__(self):
            yield [np.zeros((3, 2, 2, 3)), np.zeros(3)]
            yield [np.zeros((5, 2, 2, 3)), np.zeros(5)]

        def reset_state(self):
            pass
    flow = CountedFlow(Batches())
    assert sum(1 for _ in flow) == 2 and flow.images == 8


class Steps:
    """What SampleLosses reads of a trainer: the epoch and the global step."""

    def __init__(self, epoch_num, global_step):
        self.epoch_num, self.global_step = epoch_num, global_step


def run_steps(cb, trainer, indices, loss):
    """Steps of one tower: each gives (indices, losses)."""
    for index in indices:
        trainer.global_step += 1
        cb._after_run(None, SimpleNamespace(results=[np.array([index]), np.array([loss])]))


def test_sample_losses_keep_the_partial_epoch_until_its_checkpoint_is_saved(tmp_path):
    """SIGTERM mid-epoch 1 at step 4 of 8; the rerun finishes the epoch and writes epoch-1.npy, then is
    killed -9 before the epoch's checkpoint (saved at the next epoch's start): the next rerun resumes at
    step 4 again and must still have the first 4 steps' losses."""
    from webvision.results import sample_loss
    from webvision.train.callbacks import SampleLosses
    logdir, count = str(tmp_path), 10
    first = SampleLosses(logdir, count, steps_per_epoch=8)
    first.trainer = Steps(0, 0)                              # before training: the epochs done
    first._before_train()
    first.trainer.epoch_num = 1
    run_steps(first, first.trainer, range(4), 1.)
    first._after_train()                                     # stopped by SIGTERM: checkpoint at step 4
    partial = sample_loss.epoch_path(logdir, 1, partial=True)
    for _ in range(2):                                       # the rerun killed -9 in the window, then again
        rerun = SampleLosses(logdir, count, steps_per_epoch=8)
        rerun.trainer = Steps(0, 4)
        rerun._before_train()
        rerun.trainer.epoch_num = 1
        run_steps(rerun, rerun.trainer, range(4, 8), 2.)
        rerun._trigger_epoch()
        assert os.path.isfile(partial)                       # epoch 1's checkpoint is not written yet
        losses = sample_loss.read_losses([sample_loss.epoch_path(logdir, 1)], count)
        assert losses[:4].tolist() == [1.] * 4 and losses[4:8].tolist() == [2.] * 4 and np.isnan(losses[8:]).all()
    rerun.trainer.epoch_num = 2
    rerun._before_epoch()                                    # after EpochCheckpoint saved model-8
    assert not os.path.exists(partial)
    run_steps(rerun, rerun.trainer, range(8), 3.)
    rerun._trigger_epoch()
    rerun._after_train()                                     # the end: model-16 saved before this
    assert sorted(os.listdir(os.path.join(logdir, 'sample_loss'))) == ['epoch-1.npy', 'epoch-2.npy']
