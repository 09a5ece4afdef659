"""The challenge metric and the learning-rate schedule, on hand-computed cases."""
import numpy as np
import pytest

from imagenet_utils import error_rates, learning_rate_at, wrong_from_topk


def test_error_rates_by_hand_with_an_empty_class():
    # class 3 has no images and must not count; per-class top-1 errors are 1/3, 1/1, 1/2
    labels = [0, 0, 0, 1, 2, 2]
    wrong1 = [1, 0, 0, 1, 0, 1]
    wrong5 = [0, 0, 0, 1, 0, 0]
    e = error_rates(wrong1, wrong5, labels, num_classes=4)
    assert e['Top1'] == pytest.approx(3 / 6)
    assert e['Balanced Top1'] == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)
    assert e['Top5'] == pytest.approx(1 / 6)
    assert e['Balanced Top5'] == pytest.approx((0 + 1 + 0) / 3)


def test_balanced_error_differs_from_plain_error_on_imbalanced_classes():
    # 9 images of class 0 all right, 1 image of class 1 wrong: 10 % plain, 50 % balanced
    labels = [0] * 9 + [1]
    wrong = [0] * 9 + [1]
    e = error_rates(wrong, wrong, labels, num_classes=2)
    assert e['Top1'] == pytest.approx(0.1) and e['Balanced Top1'] == pytest.approx(0.5)


def test_wrong_from_topk():
    topk = np.array([[3, 1, 2, 0, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]])
    labels = np.array([3, 4, 5])
    w1, w5 = wrong_from_topk(topk, labels)
    assert w1.tolist() == [False, True, True]
    assert w5.tolist() == [False, False, True]


def test_learning_rate_schedule_warmup_and_steps():
    sched = dict(base_lr=0.4, steps_per_epoch=100, epochs=110, warmup_epochs=3)
    assert learning_rate_at(0, **sched) == pytest.approx(0.1)
    assert learning_rate_at(150, **sched) == pytest.approx(0.25)     # half-way through warm-up
    assert learning_rate_at(300, **sched) == pytest.approx(0.4)
    assert learning_rate_at(2999, **sched) == pytest.approx(0.4)
    assert learning_rate_at(3000, **sched) == pytest.approx(0.04)    # epoch 30 of 110
    assert learning_rate_at(6000, **sched) == pytest.approx(0.004)
    assert learning_rate_at(9000, **sched) == pytest.approx(0.0004)
    assert learning_rate_at(10999, **sched) == pytest.approx(0.0004)


def test_no_warmup_at_or_below_0_1_and_decay_scales_with_the_run():
    sched = dict(base_lr=0.05, steps_per_epoch=10, epochs=11, warmup_epochs=3)
    assert learning_rate_at(0, **sched) == pytest.approx(0.05)
    assert learning_rate_at(29, **sched) == pytest.approx(0.05)
    assert learning_rate_at(30, **sched) == pytest.approx(0.005)     # 30/110 of 11 epochs = epoch 3
