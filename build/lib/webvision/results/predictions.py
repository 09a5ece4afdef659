"""Predictions files: what ``imagenet-resnet.py --eval`` writes and the scoring tools read.

A JSON list with one record per image, in list order:
``{"file": name, "label": int or null, "top5": [5 class ids, best first], "prob": [their 5 probabilities]}``.
The original system's format, a JSON list of top-5 lists in list order, is read too.
"""
import itertools

import numpy as np

from webvision.core.errors import InputError
from webvision.core.fileio import load_json, write_json_atomic
from webvision.data.lists import short


def write_predictions(path, names, labels, top5, prob):
    """Writes one record per image (``labels`` None for a test list: withheld); returns the count."""
    records = [{'file': names[i], 'label': int(labels[i]) if labels is not None else None,
                'top5': top5[i].tolist(), 'prob': [round(float(p), 6) for p in prob[i]]}
               for i in range(len(names))]
    write_json_atomic(path, records)
    return len(records)


def read_predictions(path):
    """(file names or None for the original format, list of top-5 lists) from a predictions file."""
    data = load_json(path)
    if not isinstance(data, list):
        raise InputError('{}: expected a JSON list of predictions, got {}'.format(path, type(data).__name__))
    if data and isinstance(data[0], dict):
        try:
            names, top = [rec['file'] for rec in data], [rec['top5'] for rec in data]
            if all(type(n) is str for n in names):
                return names, top
        except (KeyError, TypeError):
            pass        # a bad record: found and named below
        for i, rec in enumerate(data, 1):
            if not isinstance(rec, dict) or 'file' not in rec or 'top5' not in rec:
                raise InputError('{}: row {}: expected {{"file": ..., "top5": [...]}}, got {}'.format(
                    path, i, short(rec)))
            if type(rec['file']) is not str:
                raise InputError('{}: row {}: "file" must be a string, got {}'.format(path, i, short(rec['file'])))
    return None, data


def check_row(path, i, name, row, num_classes, k=5):
    """Raises InputError naming row ``i`` (1-based) unless ``row`` is ``k`` distinct class ids."""
    where = '{}: row {}{}'.format(path, i, ' ({})'.format(name) if name is not None else '')
    if not isinstance(row, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in row):
        raise InputError('{}: expected a list of integer class ids, got {}'.format(where, short(row)))
    if len(row) < k:
        raise InputError('{}: {} class id(s), need {}: {}'.format(where, len(row), k, row))
    seen = set()
    for c in row[:k]:
        if c in seen:
            raise InputError('{}: class id {} appears more than once in {}'.format(where, c, row[:k]))
        seen.add(c)
        if not 0 <= c < num_classes:
            raise InputError('{}: class id {} is outside [0, {})'.format(where, c, num_classes))


def align(pred_path, pred_names, list_path, list_names):
    """For each listed image, the index of its prediction row; errors name the first image that
    has none and the first prediction of an unlisted image."""
    if pred_names is None or pred_names == list_names:   # the original format, or ours: list order
        return np.arange(len(list_names))                 # (read_list refused repeated names)
    index = {}
    for i, name in enumerate(pred_names):
        if name in index:
            raise InputError('{}: row {}: image {!r} predicted twice (also row {})'.format(
                pred_path, i + 1, name, index[name] + 1))
        index[name] = i
    listed = set(list_names)
    for i, name in enumerate(pred_names):
        if name not in listed:
            raise InputError('{}: row {}: image {!r} is not in {}'.format(pred_path, i + 1, name, list_path))
    order = []
    for lineno, name in enumerate(list_names, 1):
        if name not in index:
            raise InputError('{}: image {!r} (entry {}) has no prediction in {}'.format(
                list_path, name, lineno, pred_path))
        order.append(index[name])
    return np.asarray(order, dtype=np.int64)


def _int_array(rows):
    try:
        return None if rows is None else np.array(rows)
    except (TypeError, ValueError):                  # ragged rows or not lists
        return None


def topk_array(pred_path, rows, num_classes, names=None, k=5):
    """Rows as an [N, k] int array, checked in bulk; the first bad row is reported by check_row."""
    first_bad = None
    arr = _int_array(rows)                           # rows of k ids, as --eval writes them
    if arr is None or arr.ndim != 2 or arr.shape[1] < k:
        arr = _int_array([row[:k] for row in rows] if all(isinstance(r, list) for r in rows) else None)
    elif arr.shape[1] > k:
        arr = arr[:, :k]
    if arr is None or arr.dtype.kind != 'i' or arr.ndim != 2 or arr.shape[1] != k:
        first_bad = 0 if len(rows) else None
        if arr is not None and arr.ndim == 2 and arr.dtype.kind == 'i':
            first_bad = 0                            # too few ids somewhere: search below
    elif bool in set(map(type, itertools.chain.from_iterable(rows))):
        first_bad = 0                                # true/false are not class ids (numpy takes them as 1/0)
    else:
        ordered = np.sort(arr, axis=1)
        bad = ((arr < 0) | (arr >= num_classes)).any(axis=1) | (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if bad.any():
            first_bad = int(np.argmax(bad))
    if first_bad is not None:
        for i in range(first_bad, len(rows)):
            check_row(pred_path, i + 1, names[i] if names else None, rows[i], num_classes, k)
        if arr is None or arr.dtype.kind != 'i':     # not reached: check_row names the row first
            raise InputError('{}: rows are not lists of {} class ids'.format(pred_path, k))
    return arr.astype(np.int64).reshape(len(rows), k) if len(rows) else np.zeros((0, k), np.int64)
