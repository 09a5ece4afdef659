"""What every program in utils/ runs: its module in webvision/commands/, where the code lives.

The programs stay at the seed's paths (``python3 utils/json2sub.py ...``); the package must be
installed in the Python that runs them (``make venv`` installs it into .venv in editable mode).
"""
import importlib
import sys


def run(name):
    try:
        module = importlib.import_module('webvision.commands.' + name)
    except ModuleNotFoundError as e:
        if e.name != 'webvision':
            raise
        sys.exit('error: the webvision package is not installed in {}: run `make venv` in the checkout and use '
                 '.venv/bin/python, or `pip install -e .` there'.format(sys.executable))
    sys.exit(module.main())
