"""webvision/core/process.py and webvision/core/memory.py: process identity across forks; the environment TensorFlow gets."""
import multiprocessing as mp
import os

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
