"""Stopping on SIGTERM and Ctrl-C: training ends after the current step, checkpointed where it
stopped, within STOP_GRACE_SECONDS even when the main thread is blocked inside TensorFlow."""
import contextlib
import os
import signal
import threading
import time

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
from tensorpack.callbacks import Callback
from tensorpack.utils import logger

from webvision.core.process import Owner, flush_std_streams


STOP_GRACE_SECONDS = 20     # after SIGTERM or Ctrl-C, the run checkpoints and ends within this
STOP_EXIT_CODES = {'SIGTERM': 143, 'SIGINT': 130}
_on_stop_signal = []        # called from the signal watcher thread: unblock the main thread


class _Stop:
    requested = None        # 'SIGTERM' or 'SIGINT' once one arrived
    in_step = False         # a training step runs: the loop stops after it (StopOnSignal), nothing is raised
    saving = False          # a checkpoint is being written: the watcher waits for it


def on_stop(unblock):
    """Registers a function the watcher calls when a stop signal arrives (to unblock the main thread)."""
    _on_stop_signal.append(unblock)


def forget_on_stop(unblock):
    if unblock in _on_stop_signal:
        _on_stop_signal.remove(unblock)


@contextlib.contextmanager
def checkpoint_being_written():
    """While a checkpoint is written, a stop signal's grace period does not end the process."""
    _Stop.saving = True
    try:
        yield
    finally:
        _Stop.saving = False


def stop_requested():
    """The name of the signal that asked training to stop, or None."""
    return _Stop.requested


def stop_on_signals(grace=STOP_GRACE_SECONDS):
    """SIGTERM (a scheduler preempting the job) and Ctrl-C stop training: during a step, after it
    (StopOnSignal asks the loop to stop), elsewhere (validation, callbacks, set-up) by raising
    KeyboardInterrupt; either way the run is checkpointed where it stopped. Nothing is raised
    during a step: raised while TensorFlow built an exception of its own (the input queue closed,
    below), it became a RuntimeError with a traceback. Python runs
    handlers only in the main thread between bytecodes, so a main thread blocked inside TensorFlow
    (say, waiting for data that never comes) would never hear them: a watcher thread, woken through
    the signal wakeup fd, closes the input queue (the blocked step ends) and, should the process
    still be alive ``grace`` seconds later (a checkpoint being written excepted), ends it."""
    owner = Owner()

    def handler(signum, _):
        if owner.forked():              # a forked loader: end as the signal would by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        name = signal.Signals(signum).name
        if _Stop.requested is None:
            logger.warn('{} received: saving a checkpoint and stopping'.format(name))
        _Stop.requested = name
        if not _Stop.in_step:
            raise KeyboardInterrupt(name)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch_stop_signals, args=(read_fd, owner, grace), name='stop-signal-watcher',
                     daemon=True).start()


def _watch_stop_signals(read_fd, owner, grace):
    stops = {int(signal.SIGTERM): 'SIGTERM', int(signal.SIGINT): 'SIGINT'}
    while True:
        got = [stops[b] for b in os.read(read_fd, 64) if b in stops]
        if got and not owner.forked():
            break
    _Stop.requested = _Stop.requested or got[0]
    for unblock in list(_on_stop_signal):
        try:
            unblock()
        except Exception:    # noqa: BLE001  (the session may be closing already)
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline or _Stop.saving:
        time.sleep(0.2)
    logger.error('{} received {:.0f} s ago and the run has not ended: exiting now (the last checkpoint written '
                 'is intact)'.format(got[0], grace))
    flush_std_streams()
    os._exit(STOP_EXIT_CODES[got[0]])


class StopOnSignal(Callback):
    """Ends the training loop after the step during which SIGTERM or Ctrl-C arrived (stop_on_signals)."""
    _chief_only = False

    def _before_run(self, _):
        _Stop.in_step = True
        if _Stop.requested:         # arrived between steps and was raised already, or just now
            raise KeyboardInterrupt(_Stop.requested)

    def _after_run(self, run_context, _):
        _Stop.in_step = False
        if _Stop.requested:
            run_context.request_stop()

    def _after_train(self):
        _Stop.in_step = False
