"""TensorFlow session settings: threads, mixed precision, XLA, and the creators that apply them."""
import os

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorpack.tfutils import get_default_sess_config
from tensorpack.tfutils.sesscreate import NewSessionCreator


def session_config(threads=None, gpu=False, amp=False, xla=False):
    """Session settings. On the CPU every core works on each op: tensorpack's default runs each op
    on one thread, which left most cores idle (1.84 vs 2.37 images/s training ResNet-50 on 2 cores).
    ``amp``: mixed precision by TensorFlow's graph rewrite, float16 on GPUs (with loss scaling, see
    ImageNetModel.optimizer), bfloat16 on CPUs through oneDNN. ``xla``: XLA auto-clustering."""
    conf = get_default_sess_config()
    if not gpu:
        conf.intra_op_parallelism_threads = threads or len(os.sched_getaffinity(0))
        conf.inter_op_parallelism_threads = 1
    rewrite = conf.graph_options.rewrite_options
    if amp and not gpu:
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
    if xla:     # on the CPU this needs the flag webvision.core.process.configure_tensorflow sets
        conf.graph_options.optimizer_options.global_jit_level = tf.compat.v1.OptimizerOptions.ON_1
    return conf


class ConfiguredSessionCreator(NewSessionCreator):
    """NewSessionCreator with a config of ours (session_config()), without tensorpack's warning about
    custom configs (it concerns GPUs initialised too early); ``target``: a server's, for clusters."""

    def __init__(self, config, target=''):
        self.target, self.config, self.user_provided_config = target, config, True


class CPUSessionCreator(ConfiguredSessionCreator):
    def __init__(self, threads=None, amp=False, xla=False):
        super().__init__(session_config(threads, False, amp, xla))


def session_creator(threads=None, on_gpu=False, amp=False, xla=False, cluster=None):
    """The creator for a run: tensorpack's default on GPUs without --amp/--xla; on the CPU every core
    works on each op; a cluster's server target for multi-machine runs."""
    if cluster:
        server, config = cluster.start_server(session_config(threads, on_gpu, amp, xla))
        return ConfiguredSessionCreator(config, target=server.target)
    if not on_gpu:
        return CPUSessionCreator(threads, amp=amp, xla=xla)
    if amp or xla:
        return ConfiguredSessionCreator(session_config(gpu=True, amp=amp, xla=xla))
    return None


def load_values(sess, variables, values):
    """Sets each variable to its value in one session call, through the initialisers' inputs (as
    Variable.load does one at a time). Run one by one, every call prunes the graph anew: loading
    ResNeXt-101 32x8d's 522 arrays took 33 s."""
    variables = list(variables)
    if variables:
        sess.run([v.initializer for v in variables],
                 {v.initializer.inputs[1]: value for v, value in zip(variables, values)})
