"""Image lists ("name label" per line) and class lists (synsets.txt, synset_words.txt): the one
reader and writer of each, with errors that name the file, the line and the value.

    meta/synsets.txt         one synset id per line; class id = line number (0-based)
    meta/synset_words.txt    "synset name ..." per line (optional, for printing)
    meta/<split>.txt         "relative/path label" per line; a test list has "name 0" or names only
"""
import os
import re

import numpy as np

from webvision.core.constants import LABEL_LIMIT, SOURCES, SPLITS
from webvision.core.errors import InputError
from webvision.core.fileio import check_input, decode_text, open_input, read_lines, write_atomic

LIST_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')     # meta/<name>.txt: no folders, no hidden files


def list_path(root, split, source='all'):
    """ROOT/meta/<split>.txt; for train, ``source`` picks the crawl (google, flickr or all) or names
    another list, ROOT/meta/<source>.txt (--train-list)."""
    if split not in SPLITS:
        raise ValueError('split {!r} is not one of {}'.format(split, ', '.join(SPLITS)))
    if source not in SOURCES and (split != 'train' or not LIST_NAME.match(source)):
        raise ValueError('source {!r} is not one of {} nor a list name'.format(source, ', '.join(SOURCES)))
    name = split if split != 'train' or source == 'all' else source if source not in SOURCES else 'train_' + source
    return os.path.join(root, 'meta', name + '.txt')


def count_images(path):
    """The non-blank lines of a list (its images), counted without parsing them (16 M lines in
    seconds); InputError naming the file if it is missing or not a regular file."""
    if not os.path.lexists(path):
        raise InputError('{}: file list is missing'.format(path))
    with open_input(path) as f:
        return sum(1 for line in f if line.strip())


def is_int_text(token):
    """Whether ``token`` is an optionally negative run of ASCII digits (int() also takes '²' or '٣')."""
    digits = token[1:] if token[:1] == '-' else token
    return digits.isascii() and digits.isdigit()


def short(value, n=80):
    """repr(value), cut to ``n`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= n else text[:n] + '...'


def bad_line(path, lineno, line):
    """The error of a line that is not "name label"."""
    return InputError('{}:{}: expected "name label", got {}'.format(path, lineno, short(line)))


def bad_label(path, lineno, label, limit, what=''):
    """The error of a label outside [0, limit)."""
    return InputError('{}:{}: label {} is outside [0, {}){}'.format(path, lineno, label, limit, what))


def iter_labelled(path, num_classes=None):
    """(line number, name, label) of each line of a "name label" list; the name is everything
    before the last blank-separated field (so it may hold spaces). Labels must lie in
    [0, num_classes) (the classes of synsets.txt), or fit int32 without ``num_classes``."""
    limit = num_classes or LABEL_LIMIT
    what = ' (the classes in synsets.txt)' if num_classes else ''
    for lineno, line in read_lines(path):
        parts = line.rsplit(None, 1)
        if len(parts) != 2 or not is_int_text(parts[1]):
            raise bad_line(path, lineno, line)
        label = int(parts[1])
        if not 0 <= label < limit:
            raise bad_label(path, lineno, label, limit, what)
        yield lineno, parts[0], label


def write_list(path, rows):
    """Writes (name, label) rows as a "name label" list, atomically."""
    write_atomic(path, ''.join('{} {}\n'.format(name, label) for name, label in rows))


def _lines(text):
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    return lines


def read_list(path, need_labels=True):
    """Names and labels (int64 array) of a whole list, for the scoring tools. Labels are None when
    the list has names only and ``need_labels`` is false. InputError naming the file, line and
    value for bytes that are not UTF-8, repeated names, labels outside [0, 2^31) and lines without
    a label where labels are needed."""
    with open_input(path) as f:
        text = decode_text(path, f.read())
    names, labels, linenos = _split_simple_list(text)
    if names is None:
        names, labels, linenos = _read_list_lines(path, text, need_labels)
    if labels and not 0 <= min(labels) <= max(labels) < LABEL_LIMIT:
        i = next(i for i, label in enumerate(labels) if not 0 <= label < LABEL_LIMIT)
        raise bad_label(path, linenos(i), labels[i], LABEL_LIMIT)
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
            raise bad_line(path, lineno, line)
        else:
            names.append(line)
        linenos.append(lineno)
    return names, labels, linenos.__getitem__


def read_synsets(path, unique=False):
    """The synset ids of a synsets.txt (the first field of each line; class id = position);
    ``unique``: InputError naming both lines of a synset listed twice (two class ids for one class)."""
    synsets, first = [], {}
    for lineno, line in read_lines(path):
        wnid = line.split()[0]
        if unique and wnid in first:
            raise InputError('{}:{}: {} is also line {}: a class listed twice'.format(path, lineno, wnid, first[wnid]))
        first.setdefault(wnid, lineno)
        synsets.append(wnid)
    return synsets


def read_synset_words(path):
    """Synset id -> name from a synset_words.txt ("n01440764 tench, Tinca tinca" per line)."""
    words = {}
    for _, line in read_lines(path):
        wnid, _, name = line.partition(' ')
        words[wnid] = name.strip()
    return words


def write_synsets(folder, synsets):
    """Writes folder/synsets.txt and folder/synset_words.txt from (synset id, name) pairs."""
    write_atomic(os.path.join(folder, 'synsets.txt'), ''.join(w + '\n' for w, _ in synsets))
    write_atomic(os.path.join(folder, 'synset_words.txt'), ''.join('{} {}\n'.format(w, n) for w, n in synsets))


def class_meta_paths(list_path, synsets=None, names=None):
    """(synsets file, names file): the given ones, or meta/synsets.txt and meta/synset_words.txt
    beside the list (inputs that outputs must not replace, whether or not they exist)."""
    folder = os.path.dirname(os.path.abspath(list_path))
    return synsets or os.path.join(folder, 'synsets.txt'), names or os.path.join(folder, 'synset_words.txt')


def class_meta(list_path, synsets=None, names=None):
    """(synset ids, names) from the given files or, by default, meta/synsets.txt and
    meta/synset_words.txt beside the list; ([], {}) where there are none."""
    for given in (synsets, names):
        if given:
            check_input(given)          # missing, or a FIFO, folder or device: named as such
    synsets, names = class_meta_paths(list_path, synsets, names)
    ids = read_synsets(synsets) if os.path.isfile(synsets) else []
    words = read_synset_words(names) if os.path.isfile(names) else {}
    return ids, words


IMAGENET_SYNSET_WORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'imagenet1k_synset_words.txt')


def display_names(synsets, words):
    """'synset name' per class, or the synset alone where it has no name."""
    return ['{} {}'.format(s, words[s]) if words.get(s, s) != s and words[s] else s for s in synsets]


def imagenet_names():
    """'synset name' of ILSVRC-2012's 1,000 classes, in the usual class order."""
    return ['{} {}'.format(w, n) for w, n in read_synset_words(IMAGENET_SYNSET_WORDS).items()]


def fallback_names(num_classes):
    """Names for a model without its data's names: ImageNet's for 1,000 classes, else "class N"."""
    return imagenet_names() if num_classes == 1000 else ['class {}'.format(c) for c in range(num_classes)]
