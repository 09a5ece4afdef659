"""The code's shape: the library is imported, the scripts are run; the package's subpackages sit in
layers, each importing only itself and the ones below; the TF-free subpackages and tools start
without TensorFlow; no function grows past MAX_FUNCTION_LINES."""
import ast
import glob
import os
import subprocess
import sys
import warnings

import pytest

from conftest import ROOT
import webvision

LIBRARY_TOP = ('imagenet_utils.py', 'resnet_model.py', 'webvision_dataset.py')    # the user's library files
SCRIPT_DIRS = ('utils', 'bench', 'tests')
TOP_MODULES = {os.path.splitext(f)[0] for f in LIBRARY_TOP}
MAX_FUNCTION_LINES = 60
MODULE_WARN_LINES = 450


def lib_files():
    return sorted(glob.glob(os.path.join(ROOT, 'webvision', '**', '*.py'), recursive=True))


def module_name(path):
    """webvision.sub.module for webvision/sub/module.py (webvision.sub for its __init__.py)."""
    parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported(path):
    """Names of the modules a file imports: ``webvision.sub.module`` for the package's (also for
    ``from webvision.sub import module``), the top-level name for anything else."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(_name(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith('webvision') and node.module.count('.') < 2:
                names.update(_name('{}.{}'.format(node.module, a.name)) for a in node.names)
            else:
                names.add(_name(node.module))
    return names


def _name(module):
    parts = module.split('.')
    return '.'.join(parts[:3]) if parts[0] == 'webvision' else parts[0]


def subpackage(name):
    """'data' for webvision.data.lists; None for webvision itself."""
    parts = name.split('.')
    return parts[1] if len(parts) > 1 else None


def test_no_library_module_imports_scripts_or_tests():
    library = lib_files() + [os.path.join(ROOT, f) for f in LIBRARY_TOP]
    bad = ['{} imports {}'.format(os.path.relpath(p, ROOT), m)
           for p in library for m in sorted(imported(p)) if m in SCRIPT_DIRS]
    assert not bad, bad


def test_every_module_is_in_a_listed_subpackage():
    assert {subpackage(module_name(p)) for p in lib_files()} - {None} == set(webvision.LAYERS)
    assert set(webvision.TF_FREE) <= set(webvision.LAYERS)


def test_subpackages_import_only_themselves_and_the_layers_below_and_no_cycle():
    """webvision/ sits below the user's top-level files; a module imports its own subpackage or one
    before it in webvision.LAYERS, never one after; within the package the imports form no cycle."""
    graph, upward = {}, []
    for path in lib_files():
        name, deps = module_name(path), imported(path)
        up = sorted(deps & (TOP_MODULES | set(SCRIPT_DIRS) | {'imagenet-resnet'}))
        assert not up, '{} imports {}'.format(name, up)
        level = webvision.LAYERS.index(subpackage(name)) if subpackage(name) else -1
        for d in deps:
            if d.startswith('webvision.') and subpackage(d) and webvision.LAYERS.index(subpackage(d)) > level:
                upward.append('{} imports {} ({} is above {})'.format(name, d, subpackage(d), subpackage(name)))
        graph[name] = {d for d in deps if d.startswith('webvision.') and d != name}
    assert not upward, upward
    done, order = set(), []
    while len(done) < len(graph):
        ready = sorted(m for m in graph if m not in done and graph[m] <= done)
        assert ready, 'import cycle among {}'.format(sorted(set(graph) - done))
        done.update(ready)
        order += ready
    assert order.index('webvision.core.constants') < order.index('webvision.weights.checkpoints')


def _modules_after(code):
    proc = subprocess.run([sys.executable, '-c', code + '\nimport sys\nprint(" ".join(sorted(sys.modules)))'],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.split())


@pytest.mark.parametrize('sub', webvision.TF_FREE)
def test_tf_free_subpackages_leave_tensorflow_out(sub):
    """Each module of a TF-free subpackage, imported alone in one fresh process after the other:
    the first that brings TensorFlow, tensorpack or torch in is named."""
    modules = [module_name(p) for p in lib_files() if subpackage(module_name(p)) == sub]
    code = ('import sys\nfor m in {!r}:\n    __import__(m)\n    heavy = {{"tensorflow", "tensorpack", "torch"}} & '
            'set(sys.modules)\n    if heavy:\n        print("LOADED", m, sorted(heavy)); break').format(modules)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'LOADED' not in proc.stdout, proc.stdout
    assert len(modules) > 1


def test_every_command_answers_help_without_tensorflow():
    """--help of each program of webvision/commands/ (the console commands) in one fresh process, one
    after the other: the first that loads TensorFlow, tensorpack or torch is named."""
    code = ('import contextlib, importlib, io, runpy, sys\n'
            'for name in {!r}:\n'
            '    with contextlib.redirect_stdout(io.StringIO()) as out:\n'
            '        try:\n'
            '            entry = importlib.import_module("webvision.commands." + name)\n'
            '            (entry.run_command if name == "train" else entry.main)(["--help"])\n'
            '        except SystemExit as e:\n'
            '            assert e.code == 0, (name, e.code)\n'
            '    assert "usage:" in out.getvalue(), name\n'
            '    heavy = {{"tensorflow", "tensorpack", "torch"}} & set(sys.modules)\n'
            '    if heavy:\n'
            '        print("LOADED", name, sorted(heavy)); break\n'
            'else:\n'
            '    print("ALL", len({!r}))').format(PROGRAMS, PROGRAMS)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'ALL {}'.format(len(PROGRAMS)) in proc.stdout, proc.stdout


COMMANDS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, 'webvision', 'commands', '[a-z]*.py')))
PROGRAMS = COMMANDS


@pytest.mark.parametrize('path', ['utils/{}.py'.format(c) for c in COMMANDS if c != 'train'] + ['imagenet-resnet.py'])
def test_the_seeds_paths_answer_help_without_tensorflow(path):
    """python3 utils/NAME.py --help (and imagenet-resnet.py's) as the user runs it; -X importtime
    lists every module the process imported."""
    proc = subprocess.run([sys.executable, '-X', 'importtime', path, '--help'], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith('usage: '), proc.stderr[-2000:]
    loaded = {line.rsplit('|', 1)[-1].strip().split('.')[0] for line in proc.stderr.splitlines() if '|' in line}
    assert 'argparse' in loaded and not {'tensorflow', 'tensorpack', 'torch'} & loaded


def test_the_seeds_paths_and_the_console_commands_run_the_package_s_commands():
    """utils/NAME.py runs webvision.commands.NAME (nothing else in it); every console command of
    pyproject.toml names a function that exists; no file in the tree edits sys.path."""
    import tomllib
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        scripts = tomllib.load(f)['project']['scripts']
    for target in scripts.values():
        module, func = target.split(':')
        assert callable(getattr(__import__(module, fromlist=[func]), func)), target
    assert {t.split(':')[0].rsplit('.', 1)[1] for t in scripts.values()} == set(COMMANDS)
    programs = sorted(glob.glob(os.path.join(ROOT, 'utils', '[a-z]*.py')))
    assert [os.path.basename(p)[:-3] for p in programs] == [c for c in COMMANDS if c != 'train']
    for p in programs:
        with open(p) as f:
            assert "    run('{}')\n".format(os.path.basename(p)[:-3]) in f.read(), p
    edits = [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, '**', '*.py'), recursive=True)
             if '.venv' not in p and 'sys.path.' in open(p).read() and not p.endswith('test_architecture.py')]
    assert not edits, edits


def _changed_environment(code):
    """Names of the environment variables that ``code`` changes, run from an environment without TF_*."""
    code = ('import os\nbefore = dict(os.environ)\n' + code + '\nchanged = sorted(k for k in set(before) | '
            'set(os.environ) if before.get(k) != os.environ.get(k))\nprint("CHANGED", " ".join(changed))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith('TF_')})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.split('CHANGED', 1)[1].split())


def test_importing_the_library_leaves_our_process_settings_alone():
    """Process settings are the entry points' (webvision.core.process.configure_tensorflow): importing the
    library sets only the switch to legacy Keras that tensorpack cannot run without."""
    ours = _changed_environment('from webvision.core.process import configure_tensorflow\nconfigure_tensorflow()')
    assert {'TF_ENABLE_ONEDNN_OPTS', 'TF_XLA_FLAGS'} <= ours
    on_import = _changed_environment('import webvision.runtime.tfcompat, imagenet_utils, resnet_model, webvision_dataset')
    assert 'TF_USE_LEGACY_KERAS' in on_import and not ours & on_import


def source_files():
    return lib_files() + glob.glob(os.path.join(ROOT, '*.py')) + glob.glob(os.path.join(ROOT, 'utils', '*.py'))


def test_no_function_is_longer_than_the_limit():
    """Functions stay short (MAX_FUNCTION_LINES, docstring included); a long module is only a sign
    (a warning past MODULE_WARN_LINES), not a cap that pushes code to where it happens to fit."""
    long, large = [], []
    for p in source_files():
        with open(p) as f:
            text = f.read()
        if text.count('\n') > MODULE_WARN_LINES:
            large.append('{} ({} lines)'.format(os.path.relpath(p, ROOT), text.count('\n')))
        for node in ast.walk(ast.parse(text, p)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append('{}:{} {}() has {} lines'.format(os.path.relpath(p, ROOT), node.lineno, node.name, n))
    if large:
        warnings.warn('modules past {} lines: {}'.format(MODULE_WARN_LINES, ', '.join(large)))
    assert not long, long


def test_tests_sit_beside_the_subpackages_they_test():
    """tests/unit/<subpackage>/ for each subpackage (and tests/unit/ for the whole tree), tests/e2e/ for
    fresh processes, tests/helpers/ for what they share; test modules only, with unique names."""
    tests = os.path.join(ROOT, 'tests')
    assert {os.path.basename(p) for p in glob.glob(os.path.join(tests, '*.py'))} == {'conftest.py'}
    assert sorted(os.listdir(os.path.join(tests, 'unit'))) == sorted(
        [s for s in webvision.LAYERS if s != 'eval'] + ['test_architecture.py', 'test_bench.py', 'test_docs.py'] +
        [n for n in os.listdir(os.path.join(tests, 'unit')) if n == '__pycache__'])
    modules = [p for p in glob.glob(os.path.join(tests, '*', '**', '*.py'), recursive=True) if '/helpers/' not in p]
    assert all(os.path.basename(p).startswith('test_') for p in modules), modules
    names = [os.path.basename(p) for p in modules]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert glob.glob(os.path.join(tests, 'e2e', 'test_*.py'))
