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

from lib.errors import InputError
from lib.fileio import atomic_path

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


def read_one(path):
    """The losses of one file as float32; InputError unless it is a 1-D float array."""
    try:
        losses = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError('{}: not a readable .npy file ({})'.format(path, e)) from None
    if losses.ndim != 1 or losses.dtype.kind != 'f':
        raise InputError('{}: expected a 1-D float array of per-image losses, got shape {} {}'.format(
            path, losses.shape, losses.dtype))
    return losses.astype(np.float32)


def read_losses(paths, count):
    """The mean over files (epochs, or the workers' shares) of each image's loss, NaN where no file
    has it; InputError unless every file has ``count`` entries, one per line of the list."""
    stack = []
    for path in paths:
        losses = read_one(path)
        if len(losses) != count:
            raise InputError('{}: {:,} losses, but the list has {:,} images: written for another list?'.format(
                path, len(losses), count))
        stack.append(losses)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)     # all-NaN columns: images never seen
        return np.nanmean(np.stack(stack), axis=0)
