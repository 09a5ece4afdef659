#!/usr/bin/env python3
"""Splits a noisy training list into the images likely clean, by their training losses
(imagenet-resnet.py --sample-loss), with DivideMix's two-component Gaussian mixture.

  utils/split_noisy.py --losses LOGDIR/sample_loss/epoch-10.npy --list ROOT/meta/train.txt \\
      --out ROOT/meta/train_clean.txt [--by class] [--threshold 0.5]
  imagenet-resnet.py --data ROOT --train-list train_clean ...

Several --losses files (epochs, or the workers' shares of one) are averaged per image. Images no
file has a loss for are kept (--unseen keep) or dropped. Beside --out it writes OUT.noise.csv:
per class its images, those seen, those kept and the estimated noise (1 - kept / seen), noisiest first.
"""
import argparse
import csv
import io
import os
import sys

import numpy as np

from webvision.core.cli import positive_int, report
from webvision.core.errors import InputError
from webvision.core.fileio import check_outputs, write_atomic
from webvision.data.lists import class_meta, read_list, write_list
from webvision.results.noisy_labels import BY, noise_report, split
from webvision.results.sample_loss import read_losses


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--losses', required=True, nargs='+', metavar='NPY', help='LOGDIR/sample_loss/epoch-N.npy file(s)')
    p.add_argument('--list', required=True, metavar='LIST', help='the training list they were written for')
    p.add_argument('--out', required=True, metavar='LIST', help='where to write the lines likely clean')
    p.add_argument('--by', default='global', choices=BY, help='one mixture over all images (DivideMix) or one '
                   'per class (default: %(default)s)')
    p.add_argument('--threshold', type=float, default=0.5, help='keep images whose probability of being clean '
                   'is above this (default: %(default)s, DivideMix\'s)')
    p.add_argument('--min-class-images', type=positive_int, default=10, metavar='N', help='--by class: classes with fewer '
                   'seen images take the global verdict (default: %(default)s)')
    p.add_argument('--unseen', default='keep', choices=('keep', 'drop'), help='images without a loss '
                   '(default: %(default)s)')
    p.add_argument('--debug', action='store_true', help='print the traceback of an error too')
    return p


def report_csv(rows, synsets):
    out = io.StringIO()
    w = csv.writer(out, lineterminator='\n')
    w.writerow(['class_id', 'synset', 'images', 'seen', 'kept', 'estimated_noise'])
    for c, images, seen, kept, noise in rows:
        w.writerow([c, synsets[c] if c < len(synsets) else '', images, seen, kept,
                    '' if np.isnan(noise) else '{:.4f}'.format(noise)])
    return out.getvalue()


def noise_csv_path(out):
    return os.path.splitext(out)[0] + '.noise.csv'


def split_list(args):
    """Writes --out and its report; returns (kept, listed, unseen, overall estimated noise)."""
    if not 0 < args.threshold < 1:
        raise InputError('--threshold must be in (0, 1), got {}'.format(args.threshold))
    names, labels = read_list(args.list)
    if not names:
        raise InputError('{}: no images listed'.format(args.list))
    losses = read_losses(args.losses, len(names))
    seen = ~np.isnan(losses)
    if not seen.any():
        raise InputError('{}: no image of {} has a loss in them: nothing to split by'.format(
            ', '.join(args.losses), args.list))
    synsets, _ = class_meta(args.list)
    num_classes = max(len(synsets), int(labels.max()) + 1 if len(labels) else 0)
    clean, _ = split(losses, labels, num_classes, args.by, args.threshold, args.min_class_images)
    keep = clean | (~seen if args.unseen == 'keep' else np.zeros_like(seen))
    write_list(args.out, [(names[i], labels[i]) for i in np.flatnonzero(keep)])
    images, seen_n, clean_n, noise = noise_report(clean, seen, labels, num_classes)
    order = np.lexsort((np.arange(num_classes), -np.nan_to_num(noise, nan=-1)))
    write_atomic(noise_csv_path(args.out), report_csv(
        [(c, images[c], seen_n[c], clean_n[c], noise[c]) for c in order.tolist()], synsets))
    return int(keep.sum()), len(names), int((~seen).sum()), 1 - clean.sum() / max(seen.sum(), 1)


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    try:
        check_outputs([('--out', args.out), ('--out (its report)', noise_csv_path(args.out))],
                      [('--list', args.list)] + [('--losses', p) for p in args.losses])
        kept, listed, unseen, noise = split_list(args)
    except (InputError, OSError) as e:
        return report(e, args.debug)
    print('Kept {:,} of {:,} images in {} ({:,} without a loss, {}); estimated noise among the seen: {:.1%}. '
          'Per class: {}'.format(kept, listed, args.out, unseen, 'kept' if args.unseen == 'keep' else 'dropped',
                                 noise, noise_csv_path(args.out)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
