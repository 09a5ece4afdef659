"""webvision/runtime/session.py: what each session asks TensorFlow for."""
import os

import numpy as np
import tensorflow as tf
from tensorpack.tfutils import get_default_sess_config

from webvision.runtime.session import CPUSessionCreator, session_config


def test_cpu_sessions_use_every_core_on_each_op():
    conf = session_config()
    assert conf.intra_op_parallelism_threads == len(os.sched_getaffinity(0))
    assert conf.inter_op_parallelism_threads == 1
    assert session_config(threads=3).intra_op_parallelism_threads == 3
    default = get_default_sess_config().intra_op_parallelism_threads
    assert session_config(gpu=True).intra_op_parallelism_threads == default      # tensorpack's, on GPUs


def test_amp_and_xla_switch_the_rewrites_on():
    rewrite = session_config(amp=True).graph_options.rewrite_options
    assert rewrite.auto_mixed_precision_onednn_bfloat16 == rewrite.ON
    assert session_config().graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 != rewrite.ON
    assert session_config(xla=True).graph_options.optimizer_options.global_jit_level == \
        tf.compat.v1.OptimizerOptions.ON_1
    creator = CPUSessionCreator(threads=2, xla=True)
    assert creator.config.intra_op_parallelism_threads == 2 and creator.target == ''


def test_load_values_sets_every_variable_in_one_call():
    from webvision.runtime.session import load_values
    with tf.Graph().as_default():
        a = tf.compat.v1.get_variable('a', [2, 3])
        n = tf.compat.v1.get_variable('n', [], dtype=tf.int64, initializer=tf.compat.v1.zeros_initializer())
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            runs = []
            real_run = sess.run
            sess.run = lambda *args, **kw: runs.append(1) or real_run(*args, **kw)
            load_values(sess, [a, n], [np.arange(6.).reshape(2, 3), 7])
            load_values(sess, [], [])
            assert len(runs) == 1
            got_a, got_n = real_run([a, n])
    np.testing.assert_array_equal(got_a, np.arange(6.).reshape(2, 3))
    assert got_n == 7
