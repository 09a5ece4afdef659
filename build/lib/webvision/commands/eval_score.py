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
import sys

from webvision.core.cli import positive_int
from webvision.core.constants import ERROR_NAMES
from webvision.core.errors import InputError
from webvision.core.fileio import check_output, write_atomic
from webvision.data.lists import class_meta_paths
from webvision.core.memory import no_gc_for_this_process
from webvision.results.scoring import score  # noqa: F401  (tests call eval_score.score)


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--predictions', required=True, metavar='P', help='predictions JSON')
    p.add_argument('--labels', required=True, metavar='LIST', help='"name label" list, e.g. ROOT/meta/val.txt')
    p.add_argument('--per-class', metavar='CSV', help='write per-class errors here, worst first')
    p.add_argument('--synsets', help='synset id per line (default: synsets.txt beside LIST)')
    p.add_argument('--names', help='"synset name" per line (default: synset_words.txt beside LIST)')
    p.add_argument('--num-classes', type=positive_int, help='class count, where there is no synsets file')
    return p


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
            synsets, names = class_meta_paths(args.labels, args.synsets, args.names)
            check_output(args.per_class, '--per-class', [('--predictions', args.predictions), ('--labels', args.labels),
                                                         ('--synsets', synsets), ('--names', names)])
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
