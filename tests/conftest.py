import fcntl
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:        # the reference library (requirements-ref.txt): its ops crash when loaded after TensorFlow 2.21
    import torchvision  # noqa: F401
except ImportError:
    pass
from webvision.core.process import configure_tensorflow  # noqa: E402

configure_tensorflow()
import webvision.runtime.tfcompat  # noqa: E402,F401  (before anything imports TensorFlow)

DRIVER = os.path.join(ROOT, 'imagenet-resnet.py')


def pytest_configure(config):
    config.addinivalue_line('markers', 'e2e: runs a program in a fresh process (the driver, a script, a worker); '
                            'set on everything under tests/e2e/. make test runs these too, make test-fast leaves them out')
    config.addinivalue_line('markers', 'slow: a unit test that takes long (deep graphs); make test-fast leaves it out')


def pytest_collection_modifyitems(items):
    """The e2e marker is the folder's: tests/e2e/ holds the tests whose point is a fresh process.
    Those run first, then the slow unit tests, then the rest: on pytest-xdist's workers
    (make test) the quick tests fill the end instead of one long test running alone."""
    e2e = os.path.join(ROOT, 'tests', 'e2e') + os.sep
    for item in items:
        if str(item.path).startswith(e2e):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: 0 if item.get_closest_marker('e2e') else 1 if item.get_closest_marker('slow') else 2)


def made_once(tmp_path_factory, name, make):
    """``make(folder)`` once per test run, also across pytest-xdist's workers (whichever comes
    second waits for the first, instead of making its own): the folder."""
    run = os.environ.get('PYTEST_XDIST_TESTRUNUID')      # the same in every worker of one run
    base = tmp_path_factory.getbasetemp()
    root = base.parent / ('shared-' + run) if run else base
    root.mkdir(exist_ok=True)
    folder, done = root / name, root / (name + '.done')
    with open(str(root / (name + '.lock')), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            make(str(folder))
            done.write_text('')
    return str(folder)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """The embedded demo set, built once per test run into a temporary folder."""
    from webvision.data.demo import build_demo
    return made_once(tmp_path_factory, 'webvision-demo', lambda folder: build_demo(folder, quiet=True))


@pytest.fixture(scope='session')
def trained_run(demo_root, tmp_path_factory):
    """One tiny trained run (ResNet-18 at 64 px, 3 steps, validated), made once per test run (shared
    by pytest-xdist's workers, conftest.made_once) for every test that only loads it: its logdir."""
    from helpers.driver import SMALL
    return made_once(tmp_path_factory, 'trained-run', lambda logdir: run_driver(
        *SMALL, '--data', demo_root, '--logdir', logdir, '--epochs', 1, '--steps-per-epoch', 3))


@pytest.fixture(scope='session')
def driver():
    """The command line of imagenet-resnet.py (webvision/commands/train.py), for in-process tests of its parts."""
    from webvision.commands import train
    return train


def run_driver(*args, timeout=600, check=True, limits=None):
    """Runs imagenet-resnet.py in a process of its own, forked from one that has imported TensorFlow
    (helpers.forked); returns the CompletedProcess (text output). ``limits``: its resource limits."""
    from helpers import forked
    proc = forked.run(args, timeout=timeout, limits=limits)
    if check and proc.returncode != 0:
        raise AssertionError('driver failed ({}):\n{}'.format(proc.returncode, proc.stderr[-5000:]))
    return proc


@pytest.fixture
def meta_dir(tmp_path):
    d = tmp_path / 'meta'
    d.mkdir()
    write_text(d / 'synsets.txt', ''.join('n{:08d}\n'.format(i) for i in range(8)))
    write_text(d / 'synset_words.txt', ''.join('n{:08d} thing {}\n'.format(i, i) for i in range(8)))
    return d


@pytest.fixture
def test_list(meta_dir):
    return write_text(meta_dir / 'test.txt', 'x1.jpg 0\nx2.jpg 0\nx3.jpg 0\n')


def write_text(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)
