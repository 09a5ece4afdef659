"""webvision/train/ema.py: the weight average kept in the checkpoint, continued exactly by a resumed run, and
loaded in place of the weights for evaluation."""
import numpy as np
import pytest
import tensorflow as tf
from tensorpack import ModelDesc, QueueInput, SimpleTrainer, TrainConfig, launch_train_with_config
from tensorpack.dataflow import DataFromList

from webvision.weights.checkpoints import EpochCheckpoint, ResumeRestore, WeightLoader, latest_checkpoint, read_weights
from webvision.train.ema import WeightAverage

STEPS = 4


class Toy(ModelDesc):
    def inputs(self):
        return [tf.TensorSpec([None, 3], tf.float32, 'x')]

    def build_graph(self, x):
        w = tf.compat.v1.get_variable('W', initializer=tf.constant([1., -2., 3.]))
        return tf.reduce_mean(tf.reduce_sum(tf.square(x - w), axis=1), name='cost')

    def optimizer(self):
        return tf.compat.v1.train.GradientDescentOptimizer(0.1)


def train(logdir, first_epoch, last_epoch, decay=0.9):
    data = DataFromList([[np.array([[0.5, 0.5, 0.5], [1.5, -0.5, 2.5]], np.float32)]], shuffle=False)
    latest = latest_checkpoint(logdir)
    with tf.Graph().as_default():
        config = TrainConfig(model=Toy(), data=QueueInput(data), callbacks=[
            WeightAverage(decay), EpochCheckpoint(STEPS, max_to_keep=10, checkpoint_dir=logdir)],
            monitors=[], session_init=ResumeRestore(latest) if latest else None, starting_epoch=first_epoch,
            steps_per_epoch=STEPS, max_epoch=last_epoch)
        launch_train_with_config(config, SimpleTrainer())


def test_a_resumed_run_continues_the_same_average(tmp_path):
    straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
    train(straight, 1, 3)
    train(resumed, 1, 1)                # stopped after epoch 1 ...
    train(resumed, 2, 3)                # ... and resumed from its checkpoint in a new graph
    a, b = read_weights(straight + '/model-12'), read_weights(resumed + '/model-12')
    np.testing.assert_array_equal(a['W/ExponentialMovingAverage'], b['W/ExponentialMovingAverage'])
    np.testing.assert_array_equal(a['W'], b['W'])
    assert a['global_step'] == 12
    # the average lags the weights: TF's decay min(0.9, (1 + step) / (10 + step)), replayed by hand
    w, avg = np.array([1., -2., 3.]), np.array([1., -2., 3.])
    target = np.array([1.0, 0.0, 1.5])
    for step in range(1, 13):
        w = w - 0.1 * 2 * (w - target)
        d = min(0.9, (1. + step) / (10. + step))
        avg = d * avg + (1 - d) * w
    np.testing.assert_allclose(a['W'], w, rtol=1e-5)
    np.testing.assert_allclose(a['W/ExponentialMovingAverage'], avg, rtol=1e-5)
    assert not np.allclose(avg, w, rtol=1e-3)


@pytest.mark.parametrize('averaged', [True, False])
def test_evaluation_loads_the_average_unless_told_not_to(tmp_path, averaged):
    logdir = str(tmp_path / 'run')
    train(logdir, 1, 1)
    saved = read_weights(logdir + '/model-4')
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable('W', initializer=tf.zeros([3]))
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            WeightLoader(logdir + '/model-4', strict=True, averaged=averaged).init(sess)
            got = sess.run(w)
    np.testing.assert_array_equal(got, saved['W/ExponentialMovingAverage' if averaged else 'W'])
