"""webvision/runtime/session.py: what each session asks TensorFlow for."""
import os

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
