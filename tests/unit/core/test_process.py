"""webvision/core/process.py and webvision/core/memory.py: process identity across forks; the environment TensorFlow gets."""
import multiprocessing as mp
import os

import pytest

from webvision.core.process import Owner, configure_tensorflow


def _forked(owner):
    return owner.forked(), Owner().forked()


def test_owner_tells_a_forked_loader_from_its_parent():
    owner = Owner()
    assert not owner.forked()
    with mp.get_context('fork').Pool(1) as pool:
        assert pool.apply(_forked, (owner,)) == (True, False)


def test_configure_keeps_what_the_user_set(monkeypatch):
    monkeypatch.setenv('TF_ENABLE_ONEDNN_OPTS', '0')
    monkeypatch.setenv('TF_XLA_FLAGS', '--tf_xla_auto_jit=2')
    configure_tensorflow()
    configure_tensorflow()
    assert os.environ['TF_ENABLE_ONEDNN_OPTS'] == '0'
    assert os.environ['TF_XLA_FLAGS'] == '--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit'     # added once


def test_a_missing_tensorflow_is_one_line_saying_what_to_install(monkeypatch, capsys):
    """pip install . brings the commands without TensorFlow: running one says how to add it."""
    import importlib.util
    from webvision.commands import train
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'tf_keras' else real(name, *a))
    with pytest.raises(SystemExit) as e:
        train.main(train.get_args_parser().parse_args(['--fake']))
    assert str(e.value).startswith('error: tf_keras not installed in ')
    assert "pip install --no-deps tf-keras==2.21.0" in str(e.value)
