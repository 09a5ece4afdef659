"""Starting the driver in its own process and finding its loaders, for the end-to-end tests."""
import os
import signal
import time

from helpers import forked

SMALL = ['-d', '18', '--image-size', '64', '--batch', '16', '--workers', '1']     # a small, quick model


def start_training(demo_root, logdir, *extra):
    """A training process in its own session, its output in logdir/out.txt."""
    os.makedirs(logdir, exist_ok=True)
    out = os.path.join(logdir, 'out.txt')
    args = SMALL[:-2] + ['--workers', '2', '--data', demo_root, '--logdir', logdir, '--no-val'] + list(extra)
    return forked.start(args, out, out, new_session=True)


def loaders_of(proc, deadline=120):
    import psutil
    end = time.time() + deadline
    while time.time() < end:
        kids = psutil.Process(proc.pid).children(recursive=True)
        if len(kids) >= 2:
            return kids
        assert proc.poll() is None, 'trainer exited early'
        time.sleep(0.5)
    raise AssertionError('no loader processes appeared')


def kill_after_checkpoint(args, logdir, checkpoint='model-4', deadline=300):
    """Runs the driver with ``args`` until ``logdir/checkpoint`` exists, then SIGKILLs it and its
    loaders (the whole process group), as a crashed machine would."""
    proc = forked.start(args, new_session=True)
    end = time.time() + deadline
    while not os.path.exists(os.path.join(logdir, checkpoint + '.index')):
        assert proc.poll() is None and time.time() < end, 'no {} written'.format(checkpoint)
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
