#!/usr/bin/env python3
"""Ensembles models by the weighted mean of their probability matrices (imagenet-resnet.py --eval
--save-probs), written as the predictions JSON that eval_score.py and json2sub.py read.

  utils/ensemble.py --probs a.npy b.npy c.npy [--weights 2 1 1] --list ROOT/meta/val.txt --out ens.json

Every matrix must have one row per image of --list, in its order; where a matrix's .json says
which list it was made for, that list's image names must be these. The matrices are read in
blocks of rows, so that memory stays at about a block per matrix however large they are.
"""
import argparse
import math
import sys

import numpy as np

from webvision.core.cli import positive_int, report
from webvision.core.errors import InputError
from webvision.core.fileio import check_output
from webvision.data.lists import read_list
from webvision.results.predictions import write_predictions
from webvision.results.probs import ProbsFile, check_classes, check_same_list, sidecar_path, top_k, weighted_mean_blocks


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--probs', required=True, nargs='+', metavar='NPY', help='probability matrices [images, classes]')
    p.add_argument('--weights', nargs='+', type=float, metavar='W', help='one per matrix (default: all equal)')
    p.add_argument('--list', required=True, metavar='LIST', help='the list they were computed on, e.g. ROOT/meta/val.txt')
    p.add_argument('--out', required=True, metavar='JSON', help='predictions JSON to write')
    p.add_argument('--block', type=positive_int, default=1024, metavar='ROWS', help='rows read at a time '
                   '(default: %(default)s)')
    p.add_argument('--debug', action='store_true', help='print the traceback of an error too')
    return p


def check_weights(weights, count):
    weights = [1.] * count if weights is None else weights
    if len(weights) != count:
        raise InputError('--weights: {} given for {} matrices'.format(len(weights), count))
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise InputError('--weights {}: expected non-negative numbers, not all 0'.format(' '.join(map(str, weights))))
    return weights


def ensemble(prob_paths, list_path, out, weights=None, block=1024):
    """Writes the weighted mean's top 5 per image to ``out``; returns the image count."""
    weights = check_weights(weights, len(prob_paths))
    names, labels = read_list(list_path, need_labels=False)
    if not names:
        raise InputError('{}: no images listed'.format(list_path))
    files = [ProbsFile(p) for p in prob_paths]
    check_same_list(files, names, list_path)
    check_classes(files[0])
    top5 = np.zeros((len(names), 5), np.int64)
    prob = np.zeros(top5.shape, np.float32)
    for start, mean in weighted_mean_blocks(files, weights, block):
        top5[start:start + len(mean)], prob[start:start + len(mean)] = top_k(mean, top5.shape[1])
    known = labels is not None and bool(labels.any())       # all 0: a test list, labels withheld
    return write_predictions(out, names, labels if known else None, top5, prob)


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    try:
        check_output(args.out, '--out', [('--list', args.list)] + [('--probs', p) for p in args.probs] +
                     [('--probs', sidecar_path(p)) for p in args.probs])
        n = ensemble(args.probs, args.list, args.out, args.weights, args.block)
    except (InputError, OSError) as e:
        return report(e, args.debug)
    print('Wrote {:,} predictions, the weighted mean of {} models, to {}'.format(n, len(args.probs), args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
