"""imagenet-resnet.py (or another program) in a real process of its own that does not import
TensorFlow anew.

Importing TensorFlow, tensorpack and the driver's modules takes about 3 s of one core, a large part
of most of the driver runs the end-to-end tests make. multiprocessing's forkserver imports them once per
test worker, before any session or device exists, and forks each run from that: the run has its own
pid, session, signal handlers, loader processes and exit status, and reads its arguments from
sys.argv, as ``python3 imagenet-resnet.py ARGS`` would. Its environment and working directory are
those of the test worker when the server started (the test worker's, as subprocess.run passes them).
"""
import multiprocessing
import os
import resource
import runpy
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, 'imagenet-resnet.py')
# What main() imports lazily; helpers.preload first, for the environment TensorFlow must import in.
PRELOAD = ['helpers.preload', 'webvision.commands.train', 'webvision.train.runner', 'webvision.eval.runner',
           'webvision.weights.freeze']
_context = None


def context():
    global _context
    if _context is None:
        _context = multiprocessing.get_context('forkserver')
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _run_script(script, argv, out, err, new_session, limits):
    """In the forked process: stdout/stderr to the given files, then ``script`` as __main__."""
    if new_session:
        os.setsid()
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    os.chdir(ROOT)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)     # one file may take both
        os.dup2(target, fd)
        os.close(target)
    # multiprocessing made the fork server this process's way of starting its own (tensorpack's
    # loaders); the platform's default, as a process started by python3 has
    multiprocessing.set_start_method(None, force=True)
    sys.argv = [script] + argv
    sys.path[0] = os.path.dirname(script)
    runpy.run_path(script, run_name='__main__')


class Started:
    """The parts of subprocess.Popen the tests use, for a process of ``start``."""

    def __init__(self, proc, args):
        self._proc, self.pid, self.args = proc, proc.pid, args

    @property
    def returncode(self):
        return self._proc.exitcode          # -N for a process ended by signal N, as Popen's

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        self._proc.join(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, signum):
        os.kill(self.pid, signum)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def start(args, out=os.devnull, err=os.devnull, new_session=False, limits=None, script=DRIVER):
    """``script`` (the driver, or another program of the tree that imports TensorFlow) with ``args``
    started (a ``Started``), its output appended to the files ``out`` and ``err`` (they may be one);
    ``new_session``: in a session and process group of its own; ``limits``: resource limits by
    name, e.g. ``{'RLIMIT_FSIZE': 8 << 20}``."""
    args = [str(a) for a in args]
    proc = context().Process(target=_run_script, args=(script, args, str(out), str(err), new_session, limits or {}))
    proc.start()
    return Started(proc, [script] + args)


def run(args, timeout=600, limits=None):
    """The driver with ``args`` to its end: a CompletedProcess (text output), as subprocess.run gives."""
    with tempfile.TemporaryDirectory() as folder:
        out, err = os.path.join(folder, 'out'), os.path.join(folder, 'err')
        for path in (out, err):
            open(path, 'w').close()         # read below even if the process ends before it opens them
        proc = start(args, out, err, limits=limits)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        with open(out) as f, open(err) as g:
            return subprocess.CompletedProcess(proc.args, code, f.read(), g.read())
