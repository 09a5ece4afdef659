"""Import this before anything that imports TensorFlow or tensorpack (every lib module that needs
TensorFlow does).

tensorpack 0.11 builds its layers on ``tf.layers``, which TensorFlow 2.21 only provides through
the legacy Keras 2 (``tf-keras``); Keras 3 is picked unless TF_USE_LEGACY_KERAS=1 is set before
TensorFlow is first imported, and then tensorpack fails with "Conv2D is not available with
Keras 3". That, and TF1's graph mode, is all this sets: performance settings are the entry points'
(webvision.core.process.configure_tensorflow, webvision.core.memory.keep_freed_memory).
"""
import os
import sys

if 'tensorflow' in sys.modules and os.environ.get('TF_USE_LEGACY_KERAS') != '1':
    raise RuntimeError('TensorFlow was imported before webvision.runtime.tfcompat with TF_USE_LEGACY_KERAS unset; '
                       'tensorpack layers will fail under Keras 3. Import webvision.runtime.tfcompat first.')
os.environ['TF_USE_LEGACY_KERAS'] = '1'

import tensorflow as tf  # noqa: E402

# tensorpack builds TF1-style graphs and runs them in sessions, with TF1's tensor equality (a
# tensor equals only itself). Under TF2's, which changes nothing in a graph, every hash and
# comparison of a variable asks the context stack whether it runs eagerly, and tf_keras's layers
# compare each new weight with all the graph's variables: building a graph was quadratic in its
# depth (ResNet-152-SE: 14 s, 6 s without it).
tf.compat.v1.disable_eager_execution()
tf.compat.v1.disable_tensor_equality()
tf.get_logger().setLevel('ERROR')


def is_gpu_available():
    return bool(tf.config.list_physical_devices('GPU'))


def initialised_session(session_init, session_creator):
    """A session of ``session_creator`` with ``session_init`` applied: set up in the graph before the
    session exists, run in it after, as tensorpack's own predictors do (in two private steps; the
    public SessionInit.init() wants the session first)."""
    session_init._setup_graph()
    sess = session_creator.create_session()
    session_init._run_init(sess)
    return sess


def loader_processes(flow):
    """The processes of a tensorpack multi-process DataFlow (a private attribute: its only handle)."""
    return getattr(flow, '_procs', [])


def logs_to_stderr():
    """Sends tensorpack's log (to stdout by default) to stderr, through its private logger: it has
    no public handle."""
    from tensorpack.utils import logger
    for handler in logger._logger.handlers:
        if getattr(handler, 'stream', None) is sys.stdout:
            handler.setStream(sys.stderr)


def abandon_loaders():
    """Kills this process's loader processes and drops tensorpack's clean-up of their ZMQ socket at
    exit. A thread still blocked receiving from loaders that hang or died (a SIGTERM, a loader that
    stopped on bad images) is inside libzmq; closing the socket from the exit handler then made
    libzmq abort ("Assertion failed: pfd.revents & POLLIN", SIGABRT instead of the run's exit
    status). Call it last, once everything the run writes is written."""
    import atexit
    import multiprocessing
    from tensorpack.dataflow import parallel
    atexit.unregister(parallel.del_weakref)
    for p in multiprocessing.active_children():
        p.kill()
