"""webvision/model/contract.py (imagenet_utils.py): the model contract's colour augmentation against the reference augmentors."""
import numpy as np

from webvision.model import contract as iu


def test_batch_color_augment_matches_the_python_augmentors():
    """The in-graph colour jitter draws the same distortions as the original per-image augmentors:
    compared on per-image brightness and colourfulness over 1,000 copies of a photo."""
    import cv2
    import tensorflow as tf
    from skimage.data import astronaut
    from tensorpack.dataflow import imgaug

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


def test_colour_strengths_scale_and_switch_off_their_operations():
    """jitter 0 leaves a gray image gray (only lighting separates channels); lighting 0 as well
    leaves it unchanged; jitter 0.1 spreads the brightness a quarter as much as 0.4."""
    import tensorflow as tf
    gray = np.full((400, 4, 4, 3), 128, np.float32)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(2)
        x = tf.compat.v1.placeholder(tf.float32, [None, 4, 4, 3])
        outs = [iu.batch_color_augment(x, jitter, lighting) for jitter, lighting in ((0., 0.1), (0.4, 0.), (0.1, 0.))]
        with tf.compat.v1.Session() as sess:
            lit, jittered, mild = sess.run(outs, {x: gray})
            assert (sess.run(iu.batch_color_augment(x, 0., 0.), {x: gray}) == gray).all()
    assert (lit[..., 0] != lit[..., 2]).any() and abs(lit.mean() - 128) < 2
    for out in (jittered, mild):
        assert np.allclose(out[..., 0], out[..., 2]) and np.allclose(out[..., 0], out[..., 1])    # still gray
    ratio = mild.mean(axis=(1, 2, 3)).std() / jittered.mean(axis=(1, 2, 3)).std()
    assert 0.18 < ratio < 0.33, ratio
