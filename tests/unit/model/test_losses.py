"""webvision/model/losses.py: every training loss against its formula, computed by hand in numpy on small logits."""
import numpy as np
import pytest
import tensorflow as tf

from webvision.model.losses import per_sample_loss, soft_targets

LOGITS = np.array([[2.0, -1.0, 0.5, 0.0], [-0.3, 0.2, 3.0, -2.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
LABELS = np.array([0, 3, 1])


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run(kind, targets, **options):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        return sess.run(per_sample_loss(kind, tf.constant(LOGITS), tf.constant(targets, tf.float32), **options))


def onehot(labels, k=4):
    return np.eye(k, dtype=np.float32)[labels]


def test_soft_targets_smooth_as_tensorflow_does():
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        t = sess.run(soft_targets(tf.constant(LABELS), 4, 0.2))
    assert t[0] == pytest.approx([0.85, 0.05, 0.05, 0.05])       # 1 - 0.2 + 0.2/4 on the label
    np.testing.assert_allclose(t.sum(axis=1), 1, rtol=1e-6)


def test_cross_entropy_on_hard_and_smoothed_labels():
    p = softmax(LOGITS)
    np.testing.assert_allclose(run('ce', onehot(LABELS)), -np.log(p[np.arange(3), LABELS]), rtol=1e-5)
    t = onehot(LABELS) * 0.9 + 0.1 / 4
    np.testing.assert_allclose(run('ce', t), -(t * np.log(p)).sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize('q', [0.7, 1.0, 0.3])
def test_generalised_cross_entropy(q):
    p = softmax(LOGITS)[np.arange(3), LABELS]
    np.testing.assert_allclose(run('gce', onehot(LABELS), gce_q=q), (1 - p ** q) / q, rtol=1e-5)


def test_generalised_cross_entropy_of_q_1_is_mean_absolute_error_over_two():
    p = softmax(LOGITS)
    mae = np.abs(p - onehot(LABELS)).sum(axis=1)
    np.testing.assert_allclose(run('gce', onehot(LABELS), gce_q=1.0), mae / 2, rtol=1e-5)


def test_symmetric_cross_entropy_with_the_papers_clipping():
    p = softmax(LOGITS)
    ce = -np.log(p[np.arange(3), LABELS])
    # reverse CE: -sum_k p_k log(t_k), log 0 taken as log(1e-4) = A; p clipped below at 1e-7
    rce = -(np.clip(p, 1e-7, 1) * np.log(np.clip(onehot(LABELS), 1e-4, 1))).sum(axis=1)
    assert rce == pytest.approx(-np.log(1e-4) * (1 - p[np.arange(3), LABELS]), rel=1e-5)
    np.testing.assert_allclose(run('sce', onehot(LABELS), sce_alpha=0.1, sce_beta=1.0), 0.1 * ce + rce, rtol=1e-5)
    np.testing.assert_allclose(run('sce', onehot(LABELS), sce_alpha=6.0, sce_beta=0.1), 6 * ce + 0.1 * rce, rtol=1e-5)


def test_soft_and_hard_bootstrapping():
    p = softmax(LOGITS)
    t = onehot(LABELS)
    soft = -((0.95 * t + 0.05 * p) * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(run('bootstrap', t, bootstrap_beta=0.95), soft, rtol=1e-5)
    own = onehot(LOGITS.argmax(axis=1))
    hard = -((0.8 * t + 0.2 * own) * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(run('bootstrap', t, bootstrap_beta=0.8, bootstrap_hard=True), hard, rtol=1e-5)


@pytest.mark.parametrize('kind', ['ce', 'gce', 'sce', 'bootstrap'])
def test_every_loss_of_mixed_labels_is_the_mix_of_their_losses(kind):
    """What mixup needs: a loss linear in the target, so lam * L(a) + (1 - lam) * L(b)."""
    a, b, lam = onehot(LABELS), onehot(LABELS[::-1]), 0.3
    mixed = run(kind, lam * a + (1 - lam) * b)
    np.testing.assert_allclose(mixed, lam * run(kind, a) + (1 - lam) * run(kind, b), rtol=1e-5)


def test_an_unknown_loss_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match='ce, gce, sce, bootstrap'):
        run('mae', onehot(LABELS))
