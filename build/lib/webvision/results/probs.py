"""Probability matrices: what ``imagenet-resnet.py --eval --save-probs`` writes and utils/ensemble.py reads.

PATH.npy is a plain .npy file, float16 [images, classes], row i for entry i of the evaluated list,
written through a memory map (never held in memory whole). PATH.npy.json beside it says of what:
{"list", "images", "classes", "names_sha256" (of the list's image names), "weights", "tta", "ema"}.
Reading goes by row blocks with plain file reads, so that memory stays at one block per file
however large the matrices are.
"""
import contextlib
import hashlib
import os

import numpy as np

from webvision.core.errors import InputError
from webvision.core.fileio import atomic_path, load_json, npy_header, open_input, write_json_atomic

DTYPE = np.float16
READABLE = ('<f2', '<f4', '<f8')
SUM_TOLERANCE = 0.01        # float16 rows of 5,000 classes sum to 1 within 1e-3; a logit row or garbage does not
MIN_CLASSES = 5             # a predictions file has the top 5 of every image


def sidecar_path(path):
    """PATH.npy.json for PATH.npy (not PATH.json: that is where --eval's predictions may go)."""
    return path + '.json'


def names_digest(names):
    """SHA-256 of the image names in list order: two matrices of the same list have the same one."""
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode('utf-8', 'surrogateescape') + b'\n')
    return h.hexdigest()


@contextlib.contextmanager
def probs_writer(path, names, classes, **about):
    """Yields a writable float16 memory map [len(names), classes]; on success the .npy replaces
    ``path`` and its .json is written beside it, on error nothing is left."""
    with atomic_path(path, suffix='.npy') as tmp:
        out = np.lib.format.open_memmap(tmp, mode='w+', dtype=DTYPE, shape=(len(names), classes))
        yield out
        out.flush()
        del out
    write_json_atomic(sidecar_path(path), dict(about, images=len(names), classes=classes,
                                               names_sha256=names_digest(names)))


class ProbsFile:
    """A probability matrix on disk, read by row blocks: ``shape``, ``about`` (its .json or None),
    ``rows(start, stop)`` as float32."""

    def __init__(self, path):
        self.path = path
        shape, fortran, dtype, self.offset = npy_header(path)
        if len(shape) != 2 or min(shape) < 0 or fortran or dtype.str not in READABLE:
            raise InputError('{}: expected a 2-D C-ordered float array [images, classes], got shape {}{} {}'.format(
                path, shape, ' Fortran-ordered' if fortran else '', dtype.str))
        self.shape, self.dtype = shape, dtype
        side = sidecar_path(path)
        self.about = load_json(side) if os.path.lexists(side) else None
        if self.about is not None and (not isinstance(self.about, dict) or
                                       [self.about.get('images'), self.about.get('classes')] != list(shape)):
            raise InputError('{}: does not describe {} (shape {}): a stale file?'.format(side, path, shape))

    def rows(self, start, stop):
        """Rows [start, stop) as float32."""
        with open_input(self.path) as f:
            f.seek(self.offset + start * self.shape[1] * self.dtype.itemsize)
            block = np.fromfile(f, self.dtype, count=(stop - start) * self.shape[1])
        return block.reshape(stop - start, self.shape[1]).astype(np.float32)


def check_same_list(files, names, list_path):
    """InputError unless every matrix has one row per listed image and, where its .json says of which
    list, of this one; and all have the same classes."""
    digest = names_digest(names)
    for f in files:
        if f.shape[0] != len(names):
            raise InputError('{}: {:,} rows, but {} lists {:,} images'.format(f.path, f.shape[0], list_path, len(names)))
        if f.shape[1] != files[0].shape[1]:
            raise InputError('{}: {:,} classes, but {} has {:,}'.format(f.path, f.shape[1], files[0].path,
                                                                       files[0].shape[1]))
        if f.about is not None and f.about.get('names_sha256') != digest:
            raise InputError('{}: made for another list than {} ({} says it was {}): its rows would be other '
                             'images'.format(f.path, list_path, sidecar_path(f.path), f.about.get('list')))


def top_k(probs, k=5):
    """(ids [rows, k] best first, their probabilities) of a float array [rows, classes], ties to the
    lower class id as a stable sort would; by k passes of argmax, without sorting whole rows (an index
    array of int64 per entry would be 4x the block itself)."""
    work = np.array(probs, dtype=np.float32, copy=True)
    rows = np.arange(len(work))
    ids = np.empty((len(work), min(k, work.shape[1])), np.int64)
    for j in range(ids.shape[1]):
        ids[:, j] = np.argmax(work, axis=1)
        work[rows, ids[:, j]] = -np.inf
    return ids, np.take_along_axis(np.asarray(probs, np.float32), ids, axis=1)


def check_rows(part, path, start):
    """InputError naming the row unless every row of ``part`` (rows from ``start``) is a probability
    distribution: finite, in [0, 1], summing to 1 within SUM_TOLERANCE."""
    bad = ~np.isfinite(part).all(axis=1)
    why = 'not finite'
    if not bad.any():
        bad, why = ((part < 0) | (part > 1 + SUM_TOLERANCE)).any(axis=1), 'outside [0, 1]'
    if not bad.any():
        sums = part.sum(axis=1, dtype=np.float64)
        bad, why = np.abs(sums - 1) > SUM_TOLERANCE, 'summing to {:.4g}, not 1'
    if bad.any():
        i = int(np.argmax(bad))
        detail = why.format(float(part[i].sum(dtype=np.float64))) if '{' in why else why
        raise InputError('{}: row {:,} holds values {}: not probabilities (logits? a damaged file?)'.format(
            path, start + i, detail))


def check_classes(f, top=MIN_CLASSES):
    if f.shape[1] < top:
        raise InputError('{}: {:,} classes; a prediction names the top {} of at least {}'.format(
            f.path, f.shape[1], top, top))


def normalised(weights):
    """Weights that sum to 1, computed without overflow (1e308 twice is 0.5 each, not 0)."""
    w = np.asarray(weights, np.float64)
    w = w / w.max()
    return (w / w.sum()).tolist()


def weighted_mean_blocks(files, weights, block=1024):
    """Yields (start, [rows, classes] float32) of sum_i weights[i] x files[i] / sum(weights), block by
    block; InputError at the first row of a file that is not a probability distribution."""
    weights = normalised(weights)
    rows = files[0].shape[0]
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        acc = np.zeros((stop - start, files[0].shape[1]), np.float32)
        for f, w in zip(files, weights):
            part = f.rows(start, stop)
            check_rows(part, f.path, start)
            acc += np.multiply(part, w, out=part)
        yield start, acc
