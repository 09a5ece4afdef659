"""The toolkit's library: one module per concern, imported downward only (see README "Code map").

Nothing here imports the top-level files, ``utils/``, ``bench/`` or ``tests/``. The modules that
need no TensorFlow (``TF_FREE`` below) never import it, so that the scoring and data tools start
in a fraction of a second; tests/test_architecture.py checks both rules.
"""
TF_FREE = ('cli', 'constants', 'datacheck', 'decode', 'demo', 'errors', 'fileio', 'layouts', 'lists', 'listscan',
           'memory', 'metric', 'noisy_labels', 'plots', 'predictions', 'probs', 'process', 'recipe', 'sample_loss', 'scoring', 'stats', 'transform')
