"""The code's shape: the library is imported, the scripts are run; lib/ imports downward only; the
TF-free modules and tools start without TensorFlow; no module grows past MAX_LINES."""
import ast
import glob
import os
import subprocess
import sys

import pytest

from conftest import ROOT
import lib

LIBRARY_TOP = ('imagenet_utils.py', 'resnet_model.py', 'webvision_dataset.py')    # the user's library files
SCRIPT_DIRS = ('utils', 'bench', 'tests')
TOP_MODULES = {os.path.splitext(f)[0] for f in LIBRARY_TOP}
MAX_LINES = 450
TF_FREE_TOOLS = ('eval_score.py', 'json2sub.py', 'preprocess.py', 'plot_log.py', 'make_demo_data.py', 'ensemble.py',
                 'split_noisy.py', 'report.py', 'check_data.py', 'prepare_imagenet_val.py')


def lib_files():
    return sorted(glob.glob(os.path.join(ROOT, 'lib', '*.py')))


def imported(path):
    """Top-level names of the modules a file imports (``lib.x`` for the package's modules)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(_name(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == 'lib':
                names.update('lib.' + a.name for a in node.names)
            else:
                names.add(_name(node.module))
    return names


def _name(module):
    parts = module.split('.')
    return '.'.join(parts[:2]) if parts[0] == 'lib' else parts[0]


def test_no_library_module_imports_scripts_or_tests():
    library = lib_files() + [os.path.join(ROOT, f) for f in LIBRARY_TOP]
    bad = ['{} imports {}'.format(os.path.relpath(p, ROOT), m)
           for p in library for m in sorted(imported(p)) if m in SCRIPT_DIRS]
    assert not bad, bad


def test_lib_imports_only_lib_and_never_upward():
    """lib/ sits below the user's top-level files, and its own imports form no cycle: an order
    exists in which every module imports only modules before it."""
    graph = {}
    for path in lib_files():
        name = 'lib.' + os.path.splitext(os.path.basename(path))[0]
        deps = imported(path)
        up = sorted(deps & (TOP_MODULES | set(SCRIPT_DIRS) | {'imagenet-resnet'}))
        assert not up, '{} imports {}'.format(name, up)
        graph[name] = {d for d in deps if d.startswith('lib.') and d != name}
    done, order = set(), []
    while len(done) < len(graph):
        ready = sorted(m for m in graph if m not in done and graph[m] <= done)
        assert ready, 'import cycle among {}'.format(sorted(set(graph) - done))
        done.update(ready)
        order += ready
    assert order.index('lib.constants') < order.index('lib.checkpoints')


def test_the_listed_tf_free_modules_exist():
    assert set(lib.TF_FREE) <= {os.path.splitext(os.path.basename(p))[0] for p in lib_files()}


def _modules_after(code):
    proc = subprocess.run([sys.executable, '-c', code + '\nimport sys\nprint(" ".join(sorted(sys.modules)))'],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.split())


@pytest.mark.parametrize('module', lib.TF_FREE)
def test_tf_free_modules_leave_tensorflow_out(module):
    loaded = _modules_after('import lib.{}'.format(module))
    assert 'lib.' + module in loaded
    assert not {'tensorflow', 'tensorpack', 'torch'} & loaded


@pytest.mark.parametrize('tool', TF_FREE_TOOLS)
def test_tf_free_tools_start_without_tensorflow(tool):
    loaded = _modules_after('import runpy, sys\nsys.argv = ["{0}", "--help"]\ntry:\n'
                            '    runpy.run_path("utils/{0}", run_name="__main__")\nexcept SystemExit:\n'
                            '    pass'.format(tool))
    assert 'lib.errors' in loaded or tool == 'make_demo_data.py'
    assert not {'tensorflow', 'tensorpack'} & loaded


def _changed_environment(code):
    """Names of the environment variables that ``code`` changes, run from an environment without TF_*."""
    code = ('import os\nbefore = dict(os.environ)\n' + code + '\nchanged = sorted(k for k in set(before) | '
            'set(os.environ) if before.get(k) != os.environ.get(k))\nprint("CHANGED", " ".join(changed))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith('TF_')})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.split('CHANGED', 1)[1].split())


def test_importing_the_library_leaves_our_process_settings_alone():
    """Process settings are the entry points' (lib.process.configure_tensorflow): importing the
    library sets only the switch to legacy Keras that tensorpack cannot run without."""
    ours = _changed_environment('from lib.process import configure_tensorflow\nconfigure_tensorflow()')
    assert {'TF_ENABLE_ONEDNN_OPTS', 'TF_XLA_FLAGS'} <= ours
    on_import = _changed_environment('import lib.tfcompat, imagenet_utils, resnet_model, webvision_dataset')
    assert 'TF_USE_LEGACY_KERAS' in on_import and not ours & on_import


def test_no_source_module_is_over_the_limit():
    sources = lib_files() + glob.glob(os.path.join(ROOT, '*.py')) + glob.glob(os.path.join(ROOT, 'utils', '*.py'))
    long = {}
    for p in sources:
        with open(p) as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            long[os.path.relpath(p, ROOT)] = n
    assert not long, long


def test_tests_folder_holds_test_modules_only():
    """Helper programs live in tests/helpers/; every other file in tests/ is a test module or conftest."""
    names = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'tests', '*.py'))}
    assert {n for n in names if not n.startswith('test_')} == {'conftest.py'}
