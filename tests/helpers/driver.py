"""Starting the driver in its own process and finding its loaders, for the end-to-end tests."""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, 'imagenet-resnet.py')
SMALL = ['-d', '18', '--image-size', '64', '--batch', '16', '--workers', '1']     # a small, quick model


def start_training(demo_root, logdir, *extra):
    """A training process in its own session, its output in logdir/out.txt."""
    os.makedirs(logdir, exist_ok=True)
    out = open(os.path.join(logdir, 'out.txt'), 'w')
    args = SMALL[:-2] + ['--workers', '2', '--data', demo_root, '--logdir', logdir, '--no-val'] + list(extra)
    return subprocess.Popen([sys.executable, DRIVER] + args, cwd=ROOT, start_new_session=True, stdout=out,
                            stderr=subprocess.STDOUT)


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
