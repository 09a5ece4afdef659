"""A real, held-out image set in the WebVision layout: scikit-learn's 1,797 handwritten digits
(8 x 8, 16 grey levels), upsampled to ``size`` pixels, split 80/20 stratified by class, with label
noise injected into the training list when asked. What it shows that the photo demo cannot: how a
model does on images it has never seen, and which training labels were wrong (the truth is kept).

    ROOT/train/<synset>/*.png, ROOT/val/*.png
    ROOT/meta/{synsets,synset_words,train,val}.txt   train.txt has the (noisy) labels trained on
    ROOT/meta/train_truth.txt                          the same lines with their true labels
    TEST_ROOT/val/*.png, TEST_ROOT/meta/val.txt        with ``test_fraction``: held out, labels withheld

make demo trains on build_digits_demo's set (20 % of the training labels wrong).

Noise (``noise`` the fraction of training images whose label changes): symmetric, to one of the
other nine digits at random; or asymmetric, each image of 2, 3, 5, 6 and 7 to a look-alike
(2->7, 3->8, 5<->6, 7->1, the MNIST pattern of Patrini et al. 2017) with probability ``noise``.
"""
import os

import cv2
import numpy as np

from webvision.data.demo import DEFAULT_ROOT, build_once

NOISE_KINDS = ('symmetric', 'asymmetric')
ASYMMETRIC = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
SYNSETS = ['n{:08d}'.format(99100000 + d) for d in range(10)]     # a range no WordNet id uses
NAMES = ['digit {}'.format(d) for d in range(10)]
DIGITS_ROOT = os.path.join(os.path.dirname(DEFAULT_ROOT), 'digits-demo')
DEMO_NOISE = 0.2


def noisy_labels(labels, noise, kind, rng):
    """``labels`` with about ``noise`` of them changed (see the module's text); a new array."""
    if kind not in NOISE_KINDS:
        raise ValueError('noise kind {!r} is not one of {}'.format(kind, ', '.join(NOISE_KINDS)))
    if not 0 <= noise < 1:
        raise ValueError('noise must be in [0, 1), got {}'.format(noise))
    labels = np.asarray(labels)
    flip = rng.uniform(size=len(labels)) < noise
    if kind == 'symmetric':
        other = (labels + rng.randint(1, 10, size=len(labels))) % 10
    else:
        other = np.array([ASYMMETRIC.get(int(y), int(y)) for y in labels])
    return np.where(flip, other, labels)


def digit_images(size):
    """(images [N, size, size] uint8, labels [N]): the digits, 0-16 scaled to 0-255, upsampled."""
    from sklearn.datasets import load_digits

    d = load_digits()
    small = np.clip(d.images * (255. / 16.), 0, 255).astype(np.float32)
    return np.stack([np.clip(cv2.resize(im, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
                     for im in small]), d.target.astype(np.int64)


def split(labels, fraction, seed):
    """(the rest, ``fraction`` of the indices): stratified by class, shuffled with ``seed``."""
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(len(labels)), test_size=fraction, stratify=labels, random_state=seed)


def _write_png(path, gray):
    if not cv2.imwrite(path, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)):
        raise OSError('could not write {}'.format(path))


def _write_lines(path, lines):
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)


def _write_meta(root, lists):
    meta = os.path.join(root, 'meta')
    _write_lines(os.path.join(meta, 'synsets.txt'), SYNSETS)
    _write_lines(os.path.join(meta, 'synset_words.txt'), ['{} {}'.format(s, n) for s, n in zip(SYNSETS, NAMES)])
    for name, lines in lists.items():
        _write_lines(os.path.join(meta, name + '.txt'), lines)


def _write_held_out(root, images, indices, prefix, labels=None):
    """Writes ROOT/val/<prefix>_<index>.png; the list's lines, with the labels or 0 (withheld)."""
    lines = []
    for i in indices:
        rel = '{}_{:04d}.png'.format(prefix, i)
        _write_png(os.path.join(root, 'val', rel), images[i])
        lines.append('{} {}'.format(rel, 0 if labels is None else labels[i]))
    return lines


def write_root(root, *, size=64, noise=0., noise_kind='symmetric', seed=0, val_fraction=0.2, test_root=None,
               test_fraction=0.):
    """Writes the set at ``root`` (a new folder), and with ``test_fraction`` of the images a test
    root; returns a dict of its counts."""
    images, labels = digit_images(size)
    rest, test_idx = split(labels, test_fraction, seed) if test_fraction else (np.arange(len(labels)), [])
    train_pos, val_pos = split(labels[rest], val_fraction / (1 - test_fraction), seed)
    train_idx, val_idx = rest[train_pos], rest[val_pos]
    shown = noisy_labels(labels[train_idx], noise, noise_kind, np.random.RandomState(seed + 1))
    for sub in ['meta', 'val'] + [os.path.join('train', s) for s in SYNSETS]:
        os.makedirs(os.path.join(root, sub))
    train, truth = [], []
    for i, label in zip(train_idx, shown):
        rel = '{0}/{0}_{1:04d}.png'.format(SYNSETS[label], i)     # filed under the label shown, as on the web
        _write_png(os.path.join(root, 'train', rel), images[i])
        train.append('{} {}'.format(rel, label))
        truth.append('{} {}'.format(rel, labels[i]))
    val = _write_held_out(root, images, val_idx, 'val', labels)
    _write_meta(root, {'train': train, 'train_truth': truth, 'val': val})
    if test_fraction:
        for sub in ('meta', 'val'):
            os.makedirs(os.path.join(test_root, sub))
        _write_meta(test_root, {'val': _write_held_out(test_root, images, test_idx, 'test')})
    return {'train': len(train), 'val': len(val), 'test': len(test_idx), 'noisy': int((shown != labels[train_idx]).sum())}


def build_digits_demo(root=DIGITS_ROOT, noise=DEMO_NOISE, seed=0, quiet=False):
    """The digits demo set at ``root`` and ``root``-test (70 % train with ``noise`` of its labels
    wrong, 20 % val, 10 % test), built once; returns (root, test root)."""
    def build(r, t):
        n = write_root(r, noise=noise, seed=seed, val_fraction=0.2, test_root=t, test_fraction=0.1)
        return '10 classes, {train} train images ({noisy} with a wrong label), {val} val'.format(**n), n['test']
    return build_once(root, build, quiet)
