"""Process-wide settings and process identity: TensorFlow's environment, forked loaders, exiting.

Entry points call ``configure_tensorflow()`` first thing, before anything imports TensorFlow; no
module changes the environment at import (webvision.runtime.tfcompat sets only what tensorpack cannot run without).
"""
import importlib.util
import os
import signal
import sys
import threading
import time

TF_INSTALL = ("pip install 'webvision-toolkit[cpu]' (or [gpu]), then pip install --no-deps tf-keras==2.21.0; "
              "or make venv in the checkout")


def configure_tensorflow():
    """The environment the toolkit's TensorFlow runs best in; must precede TensorFlow's import.
    Ends the process with one line saying what to install when TensorFlow or tf-keras is missing
    (``pip install .`` brings neither: the CPU and GPU builds are two distributions)."""
    missing = [m for m in ('tensorflow', 'tf_keras') if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit('error: {} not installed in {}: {}'.format(' and '.join(missing), sys.executable, TF_INSTALL))
    # oneDNN is off by default on CPUs without AVX-512 and was ~1.3x faster for our graphs there.
    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    # Lets a session that asks for XLA (--xla) compile on the CPU too; no effect on sessions that do
    # not. TensorFlow reads it once, when it first lists devices.
    flags = os.environ.get('TF_XLA_FLAGS', '')
    if '--tf_xla_cpu_global_jit' not in flags:
        os.environ['TF_XLA_FLAGS'] = (flags + ' --tf_xla_cpu_global_jit').strip()


class Owner:
    """Remembers the process that made it: ``forked()`` is true in a loader process forked since
    (tensorpack forks its loaders with the objects of the DataFlow they run)."""

    def __init__(self):
        self.pid = os.getpid()

    def forked(self):
        return os.getpid() != self.pid


def exit_with_parent(poll=1.):
    """In a loader process: exit once the trainer that forked it is gone, even by kill -9.
    tensorpack's ZMQ workers otherwise wait forever for their next datapoint (without the
    optional python-prctl they were seen to outlive the trainer)."""
    parent = os.getppid()
    # The trainer's SIGTERM handler is inherited, but Python runs handlers only in the main thread,
    # which waits inside ZMQ: tensorpack's terminate() at exit went unheard and the trainer waited
    # for this process forever. The kernel's default action needs no thread.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch():
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)
    threading.Thread(target=watch, name='exit-with-parent', daemon=True).start()


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
