"""Scoring a predictions file against a labelled list: the two aligned by file name (or by order,
for the original system's format), the challenge's errors and the per-class table, worst first."""
import os

import numpy as np

from webvision.core.errors import InputError
from webvision.data.lists import class_meta, read_list
from webvision.results.metric import error_rates, per_class_errors, wrong_from_topk
from webvision.results.predictions import align, read_predictions, topk_array


def scored(pred_path, list_path, synsets_path=None, names_path=None, num_classes=None):
    """A predictions file aligned with a labelled list: (list names, labels, top-5 [images, 5] in
    list order, synsets, {synset: name}, class count); InputError naming the file and row otherwise."""
    list_names, labels = read_list(list_path)
    if not list_names:
        raise InputError('{}: no images listed'.format(list_path))
    synsets, words = class_meta(list_path, synsets_path, names_path)
    if num_classes and synsets and num_classes != len(synsets):
        raise InputError('--num-classes {} but {} lists {} classes'.format(
            num_classes, synsets_path or 'synsets.txt beside the list', len(synsets)))
    num_classes = num_classes or len(synsets)
    if not num_classes:
        raise InputError('cannot tell the number of classes: no {}; pass --num-classes or --synsets'.format(
            synsets_path or os.path.join(os.path.dirname(os.path.abspath(list_path)), 'synsets.txt')))
    pred_names, rows = read_predictions(pred_path)
    if labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise InputError('{}: image {!r} has label {}, outside the {} classes'.format(
            list_path, list_names[bad], labels[bad], num_classes))
    if pred_names is None and len(rows) != len(list_names):
        raise InputError('{} has {} rows but {} lists {} images'.format(pred_path, len(rows), list_path, len(list_names)))
    order = align(pred_path, pred_names, list_path, list_names)
    return list_names, labels, topk_array(pred_path, rows, num_classes)[order], synsets, words, num_classes


def score(pred_path, list_path, synsets_path=None, names_path=None, num_classes=None):
    """(errors dict, per-class rows (class, synset, name, images, top-1 error, top-5 error), worst
    first) for a predictions file against a labelled list."""
    _, labels, top5, synsets, words, num_classes = scored(pred_path, list_path, synsets_path, names_path, num_classes)
    wrong1, wrong5 = wrong_from_topk(top5, labels)
    errors = error_rates(wrong1, wrong5, labels, num_classes)
    counts, err1 = per_class_errors(wrong1, labels, num_classes)
    _, err5 = per_class_errors(wrong5, labels, num_classes)
    # worst first (top-5, then top-1 error), classes without images last
    worst = np.lexsort((np.arange(num_classes), -np.nan_to_num(err1, nan=-1), -np.nan_to_num(err5, nan=-1), counts == 0))
    per_class = [(c, synsets[c] if c < len(synsets) else '', words.get(synsets[c], '') if c < len(synsets) else '',
                  int(counts[c]), err1[c], err5[c]) for c in worst.tolist()]
    return errors, per_class
