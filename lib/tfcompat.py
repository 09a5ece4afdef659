"""Import this before anything that imports TensorFlow or tensorpack.

tensorpack 0.11 builds its layers on ``tf.layers``, which TensorFlow 2.21 only provides through
the legacy Keras 2 (``tf-keras``); Keras 3 is picked unless TF_USE_LEGACY_KERAS=1 is set before
TensorFlow is first imported, and then tensorpack fails with "Conv2D is not available with
Keras 3". Every entry point imports this module first, so none of them can forget.
"""
import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
# oneDNN is off by default on CPUs without AVX-512 and was ~1.3x faster for our graphs there.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Lets a session that asks for XLA (--xla) compile on the CPU too; no effect on sessions that do
# not. TensorFlow reads it once, when it first lists devices, so it must be set here.
if '--tf_xla_cpu_global_jit' not in os.environ.get('TF_XLA_FLAGS', ''):
    os.environ['TF_XLA_FLAGS'] = (os.environ.get('TF_XLA_FLAGS', '') + ' --tf_xla_cpu_global_jit').strip()

if 'tensorflow' in sys.modules and os.environ['TF_USE_LEGACY_KERAS'] != '1':
    raise RuntimeError('TensorFlow was imported before tfcompat with TF_USE_LEGACY_KERAS unset; '
                       'tensorpack layers will fail under Keras 3. Import tfcompat first.')



def keep_freed_memory():
    """glibc hands every freed block above 128 KB back to the kernel, and TensorFlow's CPU
    allocator and our loaders free and reallocate tensors and batches of megabytes every step:
    touching them again page-faulted: 24 % of a short ResNet-50 training run's CPU time went to the
    kernel (sys 19.3 s of 81 s; 10.5 s with this; 3.4 s with the same settings given as
    MALLOC_MMAP_THRESHOLD_ etc. before the process starts). Keep freed memory in the heap instead;
    forked loaders inherit it."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return      # not glibc
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)
    libc.mallopt(m_top_pad, 64 << 20)


def release_free_memory():
    """Returns the heap's free pages to the kernel once, e.g. after building a large structure
    whose temporaries keep_freed_memory would otherwise hold on to."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


keep_freed_memory()

import tensorflow as tf  # noqa: E402

# tensorpack builds TF1-style graphs and runs them in sessions.
tf.compat.v1.disable_eager_execution()
tf.get_logger().setLevel('ERROR')


def is_gpu_available():
    return bool(tf.config.list_physical_devices('GPU'))


EXIT_HANDLER_SECONDS = 15


def exit_process(code):
    """Ends the process after Python's exit handlers, without interpreter finalisation.

    Python 3.11 ends daemon threads at exit with pthread_exit. tensorpack's prefetch threads decode
    images in OpenCV in the background; one caught inside it unwinds through C++ frames and the
    process aborts ("terminate called without an active exception", SIGABRT) after a run that
    succeeded: 4 of 5 short training runs did. The exit handlers (tensorpack stopping its loader
    processes, multiprocessing's clean-up) still run; log handlers are flushed.
    """
    import atexit
    import logging
    import threading
    import time

    def force():
        time.sleep(EXIT_HANDLER_SECONDS)
        sys.stderr.write('exit handlers still running after {} s; exiting\n'.format(EXIT_HANDLER_SECONDS))
        os._exit(code)
    # a handler can hang (tensorpack joining a stuck loader, gRPC to a vanished worker): never the exit
    threading.Thread(target=force, daemon=True).start()
    try:
        atexit._run_exitfuncs()
    finally:
        logging.shutdown()
        flush_std_streams()
        os._exit(code)


def flush_std_streams():
    """Flushes stdout and stderr before an os._exit, ignoring streams already closed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
