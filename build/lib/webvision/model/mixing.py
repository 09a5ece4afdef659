"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on a batch in the graph, as timm's Mixup:
each image is mixed with its partner in the reversed batch, with a coefficient lam ~ Beta(alpha,
alpha) drawn per batch or per image; with both enabled each batch (or image) uses one of them,
CutMix with probability 1/2. CutMix's lam is corrected to the area of the box after clipping."""
import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf


def sample_beta(shape, alpha):
    """Beta(alpha, alpha) samples, from two gamma draws."""
    x = tf.random.gamma(shape, alpha)
    y = tf.random.gamma(shape, alpha)
    return x / tf.maximum(x + y, 1e-12)


def _draws(n, per_image):
    """A shape of [n] or [1] (broadcast to the batch) for per-image or per-batch draws."""
    return [n] if per_image else [1]


def cutmix_masks(lam, height, width):
    """([N or 1, H, W, 1] float masks, 1 inside the pasted box; the corrected lam) for target lam:
    a box of sides sqrt(1 - lam) x H and W, centred uniformly, clipped to the image (timm's rand_bbox)."""
    m = tf.shape(lam)[0]
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    cut = tf.sqrt(1. - lam)
    cut_h, cut_w = tf.floor(h * cut), tf.floor(w * cut)
    cy = tf.floor(tf.random.uniform([m]) * h)
    cx = tf.floor(tf.random.uniform([m]) * w)
    y1, y2 = tf.clip_by_value(cy - tf.floor(cut_h / 2), 0., h), tf.clip_by_value(cy + tf.floor(cut_h / 2), 0., h)
    x1, x2 = tf.clip_by_value(cx - tf.floor(cut_w / 2), 0., w), tf.clip_by_value(cx + tf.floor(cut_w / 2), 0., w)
    ys = tf.range(h)[None, :, None]
    xs = tf.range(w)[None, None, :]
    inside = ((ys >= y1[:, None, None]) & (ys < y2[:, None, None]) &
              (xs >= x1[:, None, None]) & (xs < x2[:, None, None]))
    corrected = 1. - (y2 - y1) * (x2 - x1) / (h * w)
    return tf.cast(inside, tf.float32)[..., None], corrected


def mix(images, targets, *, mixup=0., cutmix=0., prob=1., per_image=False, enabled=True):
    """(mixed NHWC float images, mixed [N, K] targets, [N] lam: the share of each image's own label).

    ``enabled``: a boolean tensor; where false the batch passes unchanged (lam 1)."""
    n = tf.shape(images)[0]
    shape = _draws(n, per_image)
    partner_images, partner_targets = tf.reverse(images, [0]), tf.reverse(targets, [0])
    apply = tf.logical_and(tf.random.uniform(shape) < prob, enabled)
    use_cutmix = tf.random.uniform(shape) < (0.5 if mixup and cutmix else (1. if cutmix else 0.))
    lam_mixup = sample_beta(shape, mixup) if mixup else tf.ones(shape)
    mixed = images
    lam = tf.ones(shape)
    if mixup:
        lam = tf.where(apply & ~use_cutmix, lam_mixup, lam)
        w = lam[:, None, None, None]
        mixed = w * images + (1. - w) * partner_images
    if cutmix:
        masks, lam_cut = cutmix_masks(sample_beta(shape, cutmix), tf.shape(images)[1], tf.shape(images)[2])
        cut_here = apply & use_cutmix
        masks = masks * tf.cast(cut_here, tf.float32)[:, None, None, None]
        mixed = mixed * (1. - masks) + partner_images * masks
        lam = tf.where(cut_here, lam_cut, lam)
    lam = tf.broadcast_to(lam, [n])
    return mixed, lam[:, None] * targets + (1. - lam[:, None]) * partner_targets, lam
