"""webvision/results/metric.py: the challenge metric, on hand-computed cases."""
import numpy as np
import pytest

from webvision.results.metric import error_rates, wrong_from_topk


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
