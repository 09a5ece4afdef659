"""webvision/runtime/tfcompat.py: the TensorFlow that tensorpack's TF1 graphs expect."""
from unittest import mock

import tensorflow as tf
from tensorflow.python.framework import ops

import webvision.runtime.tfcompat  # noqa: F401


def test_graph_mode_with_tf1_equality():
    assert not tf.executing_eagerly()
    with tf.Graph().as_default():
        a = tf.compat.v1.get_variable('a', [2])
        b = tf.constant([1., 2.])
        # Hashing a variable must not walk the context stack (that made deep graphs quadratic to build).
        with mock.patch.object(ops, 'executing_eagerly_outside_functions', side_effect=AssertionError):
            assert len({a, a}) == 1 and (a == a) is True
        assert (b == b) is True and (b == tf.identity(b)) is False      # identity, not an element-wise op
