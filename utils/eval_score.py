#!/usr/bin/env python3
"""Scores a predictions file with the WebVision challenge metric: top-1/top-5 error and their
class-balanced versions (per class, the fraction of its images whose label is not in the top
1 / top 5; then the mean over the classes that have images).

  utils/eval_score.py --predictions P.json --labels ROOT/meta/val.txt [--per-class errors.csv]

Rows are matched to the list by file name; files in the original system's format (a JSON list of
top-5 lists) are matched by list order. The per-class CSV lists class id, synset, name, image
count, top-1 and top-5 error, worst classes first; synsets and names come from synsets.txt and
synset_words.txt beside the list unless --synsets / --names say otherwise.
"""
import argparse
import csv
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.cli import positive_int  # noqa: E402
from lib.constants import ERROR_NAMES  # noqa: E402
from lib.errors import InputError  # noqa: E402
from lib.fileio import check_writable, write_atomic  # noqa: E402
from lib.lists import class_meta, read_list  # noqa: E402
from lib.memory import no_gc_for_this_process  # noqa: E402
from lib.metric import error_rates, per_class_errors, wrong_from_topk  # noqa: E402
from lib.predictions import align, read_predictions, topk_array  # noqa: E402


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--predictions', required=True, metavar='P', help='predictions JSON')
    p.add_argument('--labels', required=True, metavar='LIST', help='"name label" list, e.g. ROOT/meta/val.txt')
    p.add_argument('--per-class', metavar='CSV', help='write per-class errors here, worst first')
    p.add_argument('--synsets', help='synset id per line (default: synsets.txt beside LIST)')
    p.add_argument('--names', help='"synset name" per line (default: synset_words.txt beside LIST)')
    p.add_argument('--num-classes', type=positive_int, help='class count, where there is no synsets file')
    return p


def score(pred_path, list_path, synsets_path=None, names_path=None, num_classes=None):
    """(errors dict, per-class rows) for a predictions file against a labelled list."""
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
    top5 = topk_array(pred_path, rows, num_classes)[order]
    wrong1, wrong5 = wrong_from_topk(top5, labels)
    errors = error_rates(wrong1, wrong5, labels, num_classes)
    counts, err1 = per_class_errors(wrong1, labels, num_classes)
    _, err5 = per_class_errors(wrong5, labels, num_classes)
    # worst first (top-5, then top-1 error), classes without images last
    worst = np.lexsort((np.arange(num_classes), -np.nan_to_num(err1, nan=-1), -np.nan_to_num(err5, nan=-1), counts == 0))
    per_class = [(c, synsets[c] if c < len(synsets) else '', words.get(synsets[c], '') if c < len(synsets) else '',
                  int(counts[c]), err1[c], err5[c]) for c in worst.tolist()]
    return errors, per_class


def per_class_csv(rows):
    out = io.StringIO()
    w = csv.writer(out, lineterminator='\n')
    w.writerow(['class_id', 'synset', 'name', 'images', 'top1_error', 'top5_error'])
    for c, synset, name, n, e1, e5 in rows:
        w.writerow([c, synset, name, n, '' if n == 0 else '{:.6f}'.format(e1), '' if n == 0 else '{:.6f}'.format(e5)])
    return out.getvalue()


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    no_gc_for_this_process()
    try:
        if args.per_class:
            check_writable(args.per_class, '--per-class')
        errors, per_class = score(args.predictions, args.labels, args.synsets, args.names, args.num_classes)
    except (InputError, OSError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    for name in ERROR_NAMES:
        print('{} Error: {:.4f}'.format(name, errors[name]))
    if args.per_class:
        try:
            write_atomic(args.per_class, per_class_csv(per_class))
        except OSError as e:
            print('error: {}'.format(e), file=sys.stderr)
            return 1
        print('Wrote per-class errors of {} classes to {}'.format(len(per_class), args.per_class))
    return 0


if __name__ == '__main__':
    sys.exit(main())
