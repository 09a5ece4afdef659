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


def test_batch_color_augment_matches_the_python_augmentors():
    """The in-graph colour jitter draws the same distortions as the original per-image augmentors:
    compared on per-image brightness and colourfulness over 1,000 copies of a photo."""
    import cv2
    import tensorflow as tf
    from skimage.data import astronaut
    from tensorpack.dataflow import imgaug
    import imagenet_utils as iu

    im = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (48, 48)).astype(np.float32)
    n = 1000
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(0)
        x = tf.compat.v1.placeholder(tf.float32, [None, 48, 48, 3])
        y = iu.batch_color_augment(x)
        with tf.compat.v1.Session() as sess:
            ours = sess.run(y, {x: np.repeat(im[None], n, axis=0)})
    colour = iu.fbresnet_augmentor(True, 48)[1:3]          # RandomOrderAug of the four, then Clip
    augs = imgaug.AugmentorList(colour)
    order = colour[0]
    for k, a in enumerate([order] + order.aug_lists):
        a.rng = np.random.RandomState(k)
    original = np.stack([augs.augment(im.copy()) for _ in range(n)])

    assert ours.shape == original.shape and ours.min() >= 0 and ours.max() <= 255
    for stat in (lambda b: b.mean(axis=(1, 2, 3)) / im.mean(),        # brightness
                 lambda b: b.std(axis=3).mean(axis=(1, 2)) / im.std(axis=2).mean()):   # colourfulness
        a, b = stat(ours), stat(original)
        assert abs(a.mean() - b.mean()) < 0.05, (a.mean(), b.mean())
        assert 0.8 < a.std() / b.std() < 1.25, (a.std(), b.std())
    assert len(np.unique(ours.mean(axis=(1, 2, 3)))) == n             # drawn per image

    # On a gray image only the PCA lighting separates the channels: its size and channel order
    gray = np.full((n, 8, 8, 3), 128, np.float32)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(1)
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3])
        y = iu.batch_color_augment(x)
        with tf.compat.v1.Session() as sess:
            ours = sess.run(y, {x: gray})
    original = np.stack([augs.augment(g.copy()) for g in gray])
    for c in (0, 1):                                                  # B - R and G - R
        a, b = [(z[..., c] - z[..., 2]).mean(axis=(1, 2)) for z in (ours, original)]
        assert 0.8 < a.std() / b.std() < 1.25, (c, a.std(), b.std())
        assert np.corrcoef(a, (ours.mean(axis=(1, 2, 3)) - 128))[0, 1] * \
            np.corrcoef(b, (original.mean(axis=(1, 2, 3)) - 128))[0, 1] >= -0.05   # same sign of coupling
