"""A run's LOGDIR/stats.json, written by tensorpack (one object per epoch): its keys, a validated
reader, and the trimming that keeps it one continuous history when a run resumes."""
import json
import os

from webvision.core.constants import ERROR_NAMES, METRIC_KEYS, TRAIN_ERROR, VAL_PREFIX
from webvision.core.errors import DataError, InputError
from webvision.core.fileio import open_input, write_json_atomic

STATS_FILE = 'stats.json'
EPOCH = 'epoch_num'
LEARNING_RATE = 'learning_rate'
TRAIN_ERRORS = (TRAIN_ERROR.format(1), TRAIN_ERROR.format(5))     # moving averages over training batches
VAL_ERRORS = tuple(VAL_PREFIX + METRIC_KEYS[k] for k in ERROR_NAMES)
INPUT_SPEED, QUEUE_FILL, BAD_IMAGES = 'input/images_per_sec', 'input/queue_fill', 'bad-images'


def stats_path(logdir):
    return os.path.join(logdir, STATS_FILE)


def _load(path):
    with open_input(path) as f:
        try:
            stats = json.loads(f.read().decode('utf-8'))
        except ValueError as e:
            raise InputError('{}: not JSON ({})'.format(path, e)) from None
    if not isinstance(stats, list):
        raise InputError('{}: expected a list of epochs, got {}'.format(path, type(stats).__name__))
    return stats


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_stats(logdir):
    """The per-epoch records of a run, each with a numeric epoch_num; InputError naming what is wrong."""
    path = stats_path(logdir)
    if not os.path.isfile(path):
        raise FileNotFoundError('{}: no such file (is {} a training log folder?)'.format(path, logdir))
    stats = _load(path)
    if not stats:
        raise InputError('{}: no epoch recorded yet'.format(path))
    for i, s in enumerate(stats, 1):
        if not isinstance(s, dict) or not is_number(s.get(EPOCH)):
            raise InputError('{}: entry {} has no epoch_num: {}'.format(path, i, repr(s)[:80]))
    return stats


def series(stats, key):
    """(epochs, values) of one key, over the epochs that recorded a number for it."""
    points = [(s[EPOCH], s[key]) for s in stats if is_number(s.get(key))]
    return [p[0] for p in points], [p[1] for p in points]


def trim_stats(logdir, last_epoch):
    """Drops the entries of epochs after the checkpoint a run resumes from (a run killed between
    writing them and its next checkpoint), so that tensorpack appends to the history instead of
    moving it aside. Returns how many were dropped."""
    path = stats_path(logdir)
    if not os.path.isfile(path):
        return 0
    try:
        stats = _load(path)
        if not all(isinstance(s, dict) for s in stats):
            raise InputError('{}: expected a list of objects'.format(path))
    except InputError as e:
        raise DataError('{}: not the run\'s statistics; move it aside to resume'.format(e)) from None
    kept = [s for s in stats if s.get(EPOCH, 0) <= last_epoch]
    if len(kept) != len(stats):
        write_json_atomic(path, kept)
    return len(stats) - len(kept)
