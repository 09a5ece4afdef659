"""Per-image training losses (--sample-loss): what a training run writes each epoch and
utils/split_noisy.py reads.

LOGDIR/sample_loss/epoch-N.npy: float16 [lines of the training list], the cross-entropy of each
image against its own label in epoch N (the last draw where --balance draws it twice), NaN where
the epoch did not see it. Worker K > 0 of a multi-machine run writes epoch-N.task-K.npy for its
share. A run stopped mid-epoch (SIGTERM) keeps epoch-N.partial.npy, which the resumed run goes on filling.
"""
import os
import warnings

import numpy as np

from webvision.core.errors import InputError
from webvision.core.fileio import atomic_path, npy_header, open_input

FOLDER = 'sample_loss'
DTYPE = np.float16


def epoch_path(logdir, epoch, task=None, partial=False):
    """LOGDIR/sample_loss/epoch-N[.task-K][.partial].npy"""
    name = 'epoch-{}{}{}.npy'.format(epoch, '.task-{}'.format(task) if task else '', '.partial' if partial else '')
    return os.path.join(logdir, FOLDER, name)


def write_losses(path, losses):
    """One float16 entry per list line, complete or absent."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path, suffix='.npy') as tmp:
        np.save(tmp, np.asarray(losses, dtype=DTYPE), allow_pickle=False)


def read_one(path, count=None):
    """The losses of one file as float64; InputError unless it is a 1-D float array (of ``count``
    entries, when given) of losses that are NaN (not seen) or at least 0. The header is checked
    against ``count`` and the file's size before anything is allocated."""
    shape, _, dtype, offset = npy_header(path)
    if len(shape) != 1 or dtype.kind != 'f' or dtype.byteorder == '>' or dtype.itemsize not in (2, 4, 8):
        raise InputError('{}: expected a 1-D float array of per-image losses, got shape {} {}'.format(
            path, shape, dtype.str))
    if count is not None and shape[0] != count:
        raise InputError('{}: {:,} losses, but the list has {:,} images: written for another list?'.format(
            path, shape[0], count))
    with open_input(path) as f:
        f.seek(offset)
        losses = np.fromfile(f, dtype, count=shape[0]).astype(np.float64)
    negative = np.flatnonzero(losses < 0)
    if len(negative):
        raise InputError('{}: entry {:,} is {}: a loss is at least 0'.format(path, negative[0], losses[negative[0]]))
    return losses


def read_losses(paths, count):
    """The mean over files (epochs, or the workers' shares) of each image's loss, NaN where no file
    has it, infinity where one says infinity (the noisiest there is); float64, computed without
    overflow. InputError unless every file has ``count`` entries, one per line of the list."""
    stack = np.stack([read_one(path, count) for path in paths])
    finite = stack[np.isfinite(stack)]
    scale = float(finite.max()) if len(finite) and finite.max() > 0 else 1.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)     # all-NaN columns: images never seen
        return np.nanmean(stack / scale, axis=0) * scale
