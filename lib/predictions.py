"""The WebVision challenge metric, image lists and prediction files, without TensorFlow (so the
scorer and the submission writer start in a fraction of a second).

Predictions files are what ``imagenet-resnet.py --eval`` writes: a JSON list with one record per
image, ``{"file": name, "label": int or null, "top5": [5 class ids, best first], "prob": [...]}``.
The original system's format, a JSON list of top-5 lists in list order, is read too.
"""
import argparse
import gc
import itertools
import os
import tempfile

import numpy as np
import orjson

ERROR_NAMES = ('Top1', 'Top5', 'Balanced Top1', 'Balanced Top5')


class InputError(ValueError):
    """Bad input; the message names the file, the row or line, and the value."""


def no_gc_for_this_process():
    """For the command-line tools: 300,000 prediction records are 600,000 containers, and the
    cyclic collector rescanning them on every later allocation tripled the run time. The tools
    are short-lived and make no reference cycles."""
    gc.disable()


def per_class_errors(wrong, labels, num_classes):
    """(image count per class, error per class with NaN for classes without images)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    wrong_sum = np.bincount(labels, weights=np.asarray(wrong, dtype=np.float64), minlength=num_classes)
    with np.errstate(invalid='ignore', divide='ignore'):
        return counts, np.where(counts > 0, wrong_sum / np.maximum(counts, 1), np.nan)


def error_rates(wrong1, wrong5, labels, num_classes):
    """Top-1/top-5 error over images, and the challenge's class-balanced versions: per class, the
    fraction of its images that are wrong, then the mean over the classes that have images."""
    out = {}
    for k, wrong in (('1', wrong1), ('5', wrong5)):
        wrong = np.asarray(wrong, dtype=np.float64)
        counts, per_class = per_class_errors(wrong, labels, num_classes)
        out['Top' + k] = float(wrong.mean()) if len(wrong) else float('nan')
        out['Balanced Top' + k] = float(per_class[counts > 0].mean()) if (counts > 0).any() else float('nan')
    return out


def wrong_from_topk(topk, labels):
    """Whether the label is missing from the first 1 and the first 5 predictions of each row.
    Rows are taken in the order given: ties in score are broken by the file, never re-sorted."""
    topk, labels = np.asarray(topk), np.asarray(labels)[:, None]
    return topk[:, 0] != labels[:, 0], ~(topk[:, :5] == labels).any(axis=1)


LABEL_LIMIT = 2 ** 31      # class ids fit int32 (the graph's label type); larger ones are refused


def positive_int(text):
    """argparse type: a positive whole number in ASCII digits."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError('expected a positive whole number, got {!r}'.format(text))
    return int(text)


def check_writable(path, what='output'):
    """InputError unless ``path`` can be created: its folder exists and is writable. Called before
    the work starts, so that a typo in an output path does not cost a whole evaluation."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError('{} {}: the folder {} does not exist'.format(what, path, folder))
    if os.path.isdir(path):
        raise InputError('{} {}: is a folder, expected a file name'.format(what, path))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError('{} {}: the folder {} is not writable'.format(what, path, folder))


def decode_text(path, data, first_line=1):
    """UTF-8 text without a leading byte-order mark; InputError naming the line of a bad byte."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        line = first_line + data.count(b'\n', 0, e.start)
        raise InputError('{}:{}: not UTF-8 text: byte {!r} at column {}'.format(
            path, line, data[e.start:e.start + 1], e.start - data.rfind(b'\n', 0, e.start))) from None
    return text[1:] if first_line == 1 and text.startswith('\ufeff') else text


def read_lines(path):
    """(line number, stripped line) of each non-blank line; CRLF line ends, trailing blanks and a
    byte-order mark are dropped; InputError naming the line of bytes that are not UTF-8."""
    with open(path, 'rb') as f:
        for lineno, raw in enumerate(f, 1):
            line = decode_text(path, raw, lineno).strip()
            if line:
                yield lineno, line


def is_int_text(token):
    """Whether ``token`` is an optionally negative run of ASCII digits (int() also takes '²' or '٣')."""
    digits = token[1:] if token[:1] == '-' else token
    return digits.isascii() and digits.isdigit()


def _lines(text):
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    return lines


def read_list(path, need_labels=True):
    """Names and labels of a ``name label`` list (CRLF and blank lines tolerated). Labels are
    None when the list has names only and ``need_labels`` is false. InputError naming the file,
    line and value for bytes that are not UTF-8, repeated names, labels outside [0, 2^31) and
    lines without a label where labels are needed."""
    with open(path, 'rb') as f:
        text = decode_text(path, f.read())
    names, labels, linenos = _split_simple_list(text)
    if names is None:
        names, labels, linenos = _read_list_lines(path, text, need_labels)
    if labels and not 0 <= min(labels) <= max(labels) < LABEL_LIMIT:
        i = next(i for i, label in enumerate(labels) if not 0 <= label < LABEL_LIMIT)
        raise InputError('{}:{}: label {} is outside [0, {})'.format(path, linenos(i), labels[i], LABEL_LIMIT))
    if len(set(names)) != len(names):
        seen = {}
        i = next(i for i, n in enumerate(names) if seen.setdefault(n, i) != i)
        raise InputError('{}:{}: image {!r} is listed more than once (also line {})'.format(
            path, linenos(i), names[i], linenos(seen[names[i]])))
    if labels and len(labels) != len(names):
        raise InputError('{}: some lines have a label and some do not'.format(path))
    return names, (np.asarray(labels, dtype=np.int64) if labels else None)


def _split_simple_list(text):
    """(names, labels, line of entry) when every line is exactly "name label" (the WebVision
    lists), in bulk; (None, None, None) otherwise, for _read_list_lines, which gives the same
    result line by line."""
    pairs = [line.split() for line in _lines(text)]
    if not all(len(p) == 2 for p in pairs):
        return None, None, None
    names, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    if not all(map(is_int_text, labels)):
        return None, None, None
    return names, list(map(int, labels)), lambda i: i + 1


def _read_list_lines(path, text, need_labels):
    """read_list line by line: blank lines, names with blanks, unlabelled lines, and errors that
    name the line."""
    names, labels, linenos = [], [], []
    for lineno, line in enumerate(_lines(text), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.rsplit(None, 1)
        if len(parts) == 2 and is_int_text(parts[1]):
            names.append(parts[0])
            labels.append(int(parts[1]))
        elif need_labels:
            raise InputError('{}:{}: expected "name label", got {}'.format(path, lineno, _short(line)))
        else:
            names.append(line)
        linenos.append(lineno)
    return names, labels, linenos.__getitem__


def load_json(path):
    """A JSON file, parsed by orjson (300,000 prediction records: 0.45 s vs the json module's 0.93);
    InputError naming the file if it is not JSON."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InputError('{}: not JSON ({})'.format(path, e)) from None


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
                    path, i, _short(rec)))
            if type(rec['file']) is not str:
                raise InputError('{}: row {}: "file" must be a string, got {}'.format(path, i, _short(rec['file'])))
    return None, data


def _short(value, n=80):
    text = repr(value)
    return text if len(text) <= n else text[:n] + '...'


def check_row(path, i, name, row, num_classes, k=5):
    """Raises InputError naming row ``i`` (1-based) unless ``row`` is ``k`` distinct class ids."""
    where = '{}: row {}{}'.format(path, i, ' ({})'.format(name) if name is not None else '')
    if not isinstance(row, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in row):
        raise InputError('{}: expected a list of integer class ids, got {}'.format(where, _short(row)))
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


def class_meta(list_path, synsets=None, names=None):
    """(synset ids, names) from the given files or, by default, meta/synsets.txt and
    meta/synset_words.txt beside the list; ([], {}) where there are none."""
    folder = os.path.dirname(os.path.abspath(list_path))
    for given in (synsets, names):
        if given and not os.path.isfile(given):
            raise InputError('{}: no such file'.format(given))
    synsets = synsets or os.path.join(folder, 'synsets.txt')
    names = names or os.path.join(folder, 'synset_words.txt')
    ids, words = [], {}
    if os.path.isfile(synsets):
        ids = [line.split()[0] for _, line in read_lines(synsets)]
    if os.path.isfile(names):
        for _, line in read_lines(names):
            wnid, _, name = line.partition(' ')
            words[wnid] = name.strip()
    return ids, words


def write_atomic(path, text_or_bytes):
    """Writes a file so that it is either complete or absent (temporary file, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)          # mkstemp makes 0600; a result file is for sharing
        with os.fdopen(fd, 'wb') as f:
            f.write(text_or_bytes.encode('utf-8') if isinstance(text_or_bytes, str) else text_or_bytes)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
