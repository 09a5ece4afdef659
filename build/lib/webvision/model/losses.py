"""Training losses on soft targets, per image: cross-entropy and three losses robust to label noise.

Every loss takes targets as a distribution over the classes (a one-hot label, smoothed, or two
labels mixed by mixup/cutmix) and is linear in it, so mixing two labels mixes their losses, as
mixup's authors define it. References:
  gce        Zhang & Sabuncu 2018, generalised cross-entropy: (1 - p_y^q) / q
  sce        Wang et al. 2019, symmetric cross-entropy: alpha CE + beta RCE, RCE = -sum_k p_k log t_k
             with log 0 taken as A = log(1e-4) (their code), so -A (1 - p_y) for a label y; here
             -A (1 - sum_k t_k p_k), its extension linear in t (their code also floors p at 1e-7)
  bootstrap  Reed et al. 2015: cross-entropy against beta t + (1 - beta) p (soft: the prediction
             itself, with its gradient, i.e. entropy regularisation) or (1 - beta) one-hot(argmax p) (hard)
"""
import math

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf

from webvision.core.constants import LOSSES

RCE_A = math.log(1e-4)      # -9.2: the paper's log of a zero target


def soft_targets(label, num_classes, smoothing=0.):
    """[N, K] float targets: one-hot labels, (1 - smoothing) on the label plus smoothing / K on each class."""
    onehot = tf.one_hot(label, num_classes, dtype=tf.float32)
    if smoothing:
        onehot = onehot * (1. - smoothing) + smoothing / num_classes
    return onehot


def per_sample_loss(kind, logits, targets, *, gce_q=0.7, sce_alpha=0.1, sce_beta=1.0, bootstrap_beta=0.95,
                    bootstrap_hard=False):
    """[N] loss of each image for ``kind`` in LOSSES, ``targets`` [N, K] rows summing to 1."""
    logits = tf.cast(logits, tf.float32)
    logp = tf.nn.log_softmax(logits)
    if kind == 'ce':
        return -tf.reduce_sum(targets * logp, axis=1)
    p = tf.exp(logp)
    if kind == 'gce':
        return tf.reduce_sum(targets * (1. - tf.pow(p, gce_q)), axis=1) / gce_q
    if kind == 'sce':
        ce = -tf.reduce_sum(targets * logp, axis=1)
        rce = -RCE_A * (1. - tf.reduce_sum(targets * p, axis=1))
        return sce_alpha * ce + sce_beta * rce
    if kind == 'bootstrap':
        own = tf.one_hot(tf.argmax(logits, axis=1), tf.shape(logits)[1]) if bootstrap_hard else p
        return -tf.reduce_sum((bootstrap_beta * targets + (1. - bootstrap_beta) * own) * logp, axis=1)
    raise ValueError('loss {!r} is not one of {}'.format(kind, ', '.join(LOSSES)))
