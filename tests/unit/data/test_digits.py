"""webvision/data/digits.py: the digits set's layout, its held-out split, and the noise it injects."""
import collections
import os

import cv2
import numpy as np
import pytest

from webvision.data import digits
from webvision.data.lists import read_list


def lists(root, *names):
    return [read_list(os.path.join(root, 'meta', n + '.txt')) for n in names]


@pytest.fixture(scope='module')
def noisy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('digits') / 'root')
    counts = digits.write_root(root, noise=0.4, seed=3, test_root=root + '-test', test_fraction=0.1)
    return root, counts


def test_the_split_is_stratified_held_out_and_complete(noisy_root):
    root, counts = noisy_root
    (train, shown), (_, truth), (val, val_labels) = lists(root, 'train', 'train_truth', 'val')
    (test, test_labels), = lists(root + '-test', 'val')
    assert (len(train), len(val), len(test)) == (counts['train'], counts['val'], counts['test'])
    assert len(train) + len(val) + len(test) == 1797 and len(val) == 360 and len(test) == 180
    index = lambda names: {int(n[-8:-4]) for n in names}        # noqa: E731  (the digit's index in the file name)
    assert not index(train) & index(val) and not (index(train) | index(val)) & index(test)
    for labels, n in ((truth, len(train)), (val_labels, len(val))):
        share = np.bincount(labels, minlength=10) / n
        assert np.abs(share - 0.1).max() < 0.012                   # each class about a tenth: stratified
    assert (test_labels == 0).all()                                # withheld
    # the files are the digits, upsampled: the val image of index i is digit_images' image i
    images, labels = digits.digit_images(64)
    for name, label in list(zip(val, val_labels))[:20]:
        i = int(name[-8:-4])
        im = cv2.imread(os.path.join(root, 'val', name))
        assert label == labels[i] and (im[..., 0] == images[i]).all() and (im[..., 0] == im[..., 2]).all()


def test_symmetric_noise_changes_the_asked_share_to_other_digits(noisy_root):
    root, counts = noisy_root
    (train, shown), (names, truth) = lists(root, 'train', 'train_truth')
    assert names == train
    wrong = shown != truth
    assert counts['noisy'] == wrong.sum() and 0.36 < wrong.mean() < 0.44
    pairs = collections.Counter(zip(truth[wrong], shown[wrong]))
    assert len(pairs) == 90                                       # every digit to every other one
    assert all(name.startswith(digits.SYNSETS[label] + '/') for name, label in zip(train, shown))   # filed as shown


def test_asymmetric_noise_follows_the_look_alikes():
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(10), 1000)
    noisy = digits.noisy_labels(labels, 0.4, 'asymmetric', rng)
    for d in range(10):
        changed = noisy[labels == d] != d
        if d in digits.ASYMMETRIC:
            assert 0.35 < changed.mean() < 0.45 and set(noisy[labels == d][changed]) == {digits.ASYMMETRIC[d]}
        else:
            assert not changed.any()
    for kind, noise, message in (('other', 0.1, 'not one of symmetric, asymmetric'), ('symmetric', 1., r'\[0, 1\)')):
        with pytest.raises(ValueError, match=message):
            digits.noisy_labels(labels, noise, kind, rng)


def test_the_demo_set_is_built_once_with_its_test_root(tmp_path, capsys):
    root, test_root = digits.build_digits_demo(str(tmp_path / 'demo'))
    assert 'built demo set' in capsys.readouterr().out and test_root == root + '-test'
    (train, shown), (_, truth) = lists(root, 'train', 'train_truth')
    assert len(train) == 1257 and 0.17 < (shown != truth).mean() < 0.23
    before = os.stat(os.path.join(root, 'meta', 'train.txt')).st_mtime_ns
    digits.build_digits_demo(root)
    assert 'already complete' in capsys.readouterr().out
    assert os.stat(os.path.join(root, 'meta', 'train.txt')).st_mtime_ns == before


def test_a_root_that_is_not_a_demo_build_is_never_replaced(tmp_path):
    from webvision.core.errors import InputError
    data = tmp_path / 'mydata'
    data.mkdir()
    (data / 'keep.txt').write_text('mine')
    (tmp_path / 'file').write_text('x')
    os.mkfifo(str(tmp_path / 'fifo'))
    for root in (data, tmp_path / 'file', tmp_path / 'fifo'):
        with pytest.raises(InputError, match='exists and is not a demo set built here: not replaced'):
            digits.build_digits_demo(str(root), quiet=True)
    assert (data / 'keep.txt').read_text() == 'mine' and (tmp_path / 'file').read_text() == 'x'
