"""webvision/weights/checkpoints.py: finding checkpoints by their files, and reading weights that may be damaged."""
import os

import numpy as np
import pytest

from webvision.weights.checkpoints import checkpoint_step, epoch_after, latest_checkpoint, read_num_classes, read_weights, resolve_checkpoint, write_npz
from webvision.core.errors import WeightsError


def touch(path):
    open(path, 'wb').close()


def test_latest_checkpoint_is_the_newest_complete_one(tmp_path):
    for step in (100, 2000, 30000):
        touch(str(tmp_path / 'model-{}.index'.format(step)))
    touch(str(tmp_path / 'model-100.data-00000-of-00001'))
    touch(str(tmp_path / 'model-2000.data-00000-of-00001'))        # 30000 has no data: killed while writing
    latest = latest_checkpoint(str(tmp_path))
    assert latest == str(tmp_path / 'model-2000') and resolve_checkpoint(str(tmp_path)) == latest
    assert resolve_checkpoint(latest + '.index') == latest
    assert checkpoint_step(latest) == 2000 and epoch_after(latest, 1000) == 3 and epoch_after(latest, 3000) == 1


def test_unusable_paths_are_named(tmp_path):
    with pytest.raises(WeightsError, match='no checkpoint in this directory'):
        resolve_checkpoint(str(tmp_path))
    with pytest.raises(WeightsError, match=r'x.npz: no such file'):
        resolve_checkpoint(str(tmp_path / 'x.npz'))
    with pytest.raises(WeightsError, match=r'not a checkpoint \(no .*model-5.index\)'):
        resolve_checkpoint(str(tmp_path / 'model-5'))


def test_npz_weights_round_trip_and_damage_is_named(tmp_path):
    path = str(tmp_path / 'w.npz')
    weights = {'conv0/W': np.arange(6, dtype=np.float32).reshape(1, 2, 3), 'linear/b': np.zeros(7, np.float32)}
    write_npz(path, weights)
    got = read_weights(path)
    assert set(got) == set(weights) and all(np.array_equal(got[k], weights[k]) for k in weights)
    assert read_num_classes(path) == 7 and os.listdir(str(tmp_path)) == ['w.npz']
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(WeightsError, match='w.npz: cannot be read as weights .*damaged or cut short'):
        read_weights(path)
    write_npz(path, {'conv0/W': weights['conv0/W']})
    with pytest.raises(WeightsError, match=r'no classifier head \(linear/b\)'):
        read_num_classes(path)


def test_a_weights_path_that_is_a_fifo_or_a_folder_is_named_as_such(tmp_path):
    import pytest
    from webvision.core.errors import WeightsError
    from webvision.weights.checkpoints import resolve_checkpoint
    import os
    os.mkfifo(str(tmp_path / 'w.npz'))
    os.mkdir(str(tmp_path / 'd.npz'))
    with pytest.raises(WeightsError, match=r'w.npz: is a FIFO, expected a regular file'):
        resolve_checkpoint(str(tmp_path / 'w.npz'))
    with pytest.raises(WeightsError, match=r'd.npz: is a folder, expected a regular file'):
        resolve_checkpoint(str(tmp_path / 'd.npz'))
    with pytest.raises(WeightsError, match=r'gone.npz: no such file'):
        resolve_checkpoint(str(tmp_path / 'gone.npz'))
