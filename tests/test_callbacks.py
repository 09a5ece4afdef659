"""lib/callbacks.py: named validation errors, the loader watchdog and the image counter, in-process."""
import time
from types import SimpleNamespace

import numpy as np
import pytest

from lib.callbacks import CountedFlow, LoaderWatchdog, ValidationErrors
from lib.metric import error_rates


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
