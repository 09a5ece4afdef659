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

from lib.errors import InputError
from lib.fileio import atomic_path, load_json, write_json_atomic

DTYPE = np.float16
READABLE = ('<f2', '<f4', '<f8')


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
        try:
            with open(path, 'rb') as f:
                version = np.lib.format.read_magic(f)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read_header is None:
                    raise ValueError('unsupported .npy version {}'.format(version))
                shape, fortran, dtype = read_header(f)
                self.offset = f.tell()
        except (OSError, ValueError) as e:
            raise InputError('{}: not a readable .npy file ({})'.format(path, e)) from None
        if len(shape) != 2 or min(shape) < 0 or fortran or dtype.str not in READABLE:
            raise InputError('{}: expected a 2-D C-ordered float array [images, classes], got shape {}{} {}'.format(
                path, shape, ' Fortran-ordered' if fortran else '', dtype.str))
        self.shape, self.dtype = shape, dtype
        expected = self.offset + shape[0] * shape[1] * dtype.itemsize
        if os.path.getsize(path) < expected:
            raise InputError('{}: cut short: {:,} bytes, its header needs {:,}'.format(
                path, os.path.getsize(path), expected))
        side = sidecar_path(path)
        self.about = load_json(side) if os.path.isfile(side) else None
        if self.about is not None and (not isinstance(self.about, dict) or
                                       [self.about.get('images'), self.about.get('classes')] != list(shape)):
            raise InputError('{}: does not describe {} (shape {}): a stale file?'.format(side, path, shape))

    def rows(self, start, stop):
        """Rows [start, stop) as float32."""
        with open(self.path, 'rb') as f:
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


def weighted_mean_blocks(files, weights, block=1024):
    """Yields (start, [rows, classes] float32) of sum_i weights[i] x files[i] / sum(weights), block by block."""
    total = float(sum(weights))
    rows = files[0].shape[0]
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        acc = np.zeros((stop - start, files[0].shape[1]), np.float32)
        for f, w in zip(files, weights):
            part = f.rows(start, stop)
            bad = ~np.isfinite(part).all(axis=1)
            if bad.any():
                raise InputError('{}: row {:,} has probabilities that are not finite'.format(
                    f.path, start + int(np.argmax(bad))))
            acc += np.multiply(part, w / total, out=part)
        yield start, acc
