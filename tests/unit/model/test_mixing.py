"""webvision/model/mixing.py: mixup and CutMix in the graph, checked image by image against their lam."""
import numpy as np
import pytest
import tensorflow as tf

from webvision.model.mixing import cutmix_masks, mix, sample_beta

N, H, W, K = 6, 20, 30, 4


def batch():
    rng = np.random.RandomState(0)
    images = rng.uniform(0, 1, (N, H, W, 3)).astype(np.float32)
    targets = np.eye(K, dtype=np.float32)[rng.randint(0, K, N)]
    return images, targets


def run(enabled=True, **kwargs):
    images, targets = batch()
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.set_random_seed(1)
        out = sess.run(mix(tf.constant(images), tf.constant(targets), enabled=tf.constant(enabled), **kwargs))
    return (images, targets) + tuple(out)


@pytest.mark.parametrize('per_image', [False, True])
def test_mixup_mixes_each_image_with_its_partner_in_the_reversed_batch(per_image):
    images, targets, mixed, mixed_t, lam = run(mixup=0.4, per_image=per_image)
    w = lam[:, None, None, None]
    np.testing.assert_allclose(mixed, w * images + (1 - w) * images[::-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixed_t, lam[:, None] * targets + (1 - lam[:, None]) * targets[::-1], rtol=1e-5)
    assert ((0 <= lam) & (lam <= 1)).all()
    assert (len(set(lam.round(6))) > 1) == per_image        # one lam per batch, or per image


@pytest.mark.parametrize('per_image', [False, True])
def test_cutmix_pastes_a_box_whose_area_is_the_partners_share(per_image):
    images, targets, mixed, mixed_t, lam = run(cutmix=1.0, per_image=per_image)
    for i in range(N):
        pasted = (mixed[i] != images[i]).any(axis=2)
        assert (mixed[i][pasted] == images[::-1][i][pasted]).all()
        ys, xs = np.nonzero(pasted)
        if len(ys):         # a rectangle, and exactly 1 - lam of the image
            assert pasted[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()
        assert pasted.sum() / float(H * W) == pytest.approx(1 - lam[i], abs=1e-6)
    np.testing.assert_allclose(mixed_t, lam[:, None] * targets + (1 - lam[:, None]) * targets[::-1], rtol=1e-5)


def test_mix_prob_0_and_disabled_leave_the_batch_alone():
    for kwargs in (dict(prob=0.), dict(enabled=False)):
        images, targets, mixed, mixed_t, lam = run(mixup=1.0, cutmix=1.0, **kwargs)
        np.testing.assert_array_equal(mixed, images)
        np.testing.assert_array_equal(mixed_t, targets)
        assert (lam == 1).all()


def test_with_both_each_batch_uses_one_of_them():
    images, targets = batch()
    kinds = set()
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.set_random_seed(2)
        op = mix(tf.constant(images), tf.constant(targets), mixup=1.0, cutmix=1.0)
        for _ in range(20):
            mixed, _, lam = sess.run(op)
            changed = (mixed != images).any(axis=3)
            # mixup changes every pixel, CutMix only a box
            kinds.add('mixup' if changed.all() else 'cutmix')
    assert kinds == {'mixup', 'cutmix'}


def test_beta_samples_have_the_beta_mean_and_variance():
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.set_random_seed(0)
        x = sess.run(sample_beta([20000], 0.4))
    assert x.mean() == pytest.approx(0.5, abs=0.01)
    assert x.var() == pytest.approx(0.25 / (2 * 0.4 + 1), rel=0.05)    # a^2 / ((2a)^2 (2a + 1))


def test_cutmix_box_is_clipped_and_lam_corrected():
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.set_random_seed(3)
        masks, lam = sess.run(cutmix_masks(tf.fill([200], 0.5), H, W))
    areas = masks.reshape(200, -1).mean(axis=1)
    np.testing.assert_allclose(areas, 1 - lam, atol=1e-6)
    assert (areas <= 0.5 + 1e-6).all() and (areas < 0.45).any()       # clipped at the borders
