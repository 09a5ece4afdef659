"""The toolkit's library, one subpackage per concern, in layers: a module imports only from its own
subpackage and the ones before it in ``LAYERS`` (see docs/architecture.md).

Nothing here imports the top-level files, ``utils/``, ``bench/`` or ``tests/``. The subpackages in
``TF_FREE`` never import TensorFlow, tensorpack or torch, so that the scoring and data tools start
in a fraction of a second; tests/test_architecture.py checks both rules.
"""
LAYERS = ('core', 'runtime', 'data', 'dataflow', 'results', 'model', 'weights', 'eval', 'train', 'report', 'commands')
TF_FREE = ('core', 'data', 'results', 'report')
