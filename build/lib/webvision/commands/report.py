#!/usr/bin/env python3
"""Writes the analysis report of a model's predictions: one self-contained HTML page to open in a
browser (nothing is fetched from anywhere; figures and thumbnails are inline).

  utils/report.py --predictions P.json --labels ROOT/meta/val.txt [--logdir RUN] [--probs P.npy] \
      --out DIR/report.html

The page has the four errors, the run's settings and newest checkpoint, the training curves
(with --logdir), a sortable and filterable table with one row per class (id, synset, name, val and
training images, top-1 and top-5 error, estimated label noise), the most confused class pairs, the
misclassified val images of the worst classes, and per class: error against training images, and,
when the run wrote --sample-loss files, against the estimated label noise (DivideMix's split of
the newest epoch's losses). With --probs, the calibration of the top-1 probability.
"""
import argparse
import glob
import os
import re
import sys
import time

import numpy as np

from webvision.report import plots, report
from webvision.core.cli import positive_float, positive_int
from webvision.core.errors import InputError
from webvision.core.fileio import check_output, write_atomic
from webvision.data.lists import class_meta_paths, read_list
from webvision.results.probs import ProbsFile, check_same_list
from webvision.results.scoring import scored
from webvision.results.stats import read_stats


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group('inputs')
    g.add_argument('--predictions', required=True, metavar='P', help='predictions JSON (imagenet-resnet.py --eval)')
    g.add_argument('--labels', required=True, metavar='LIST', help='"name label" list, e.g. ROOT/meta/val.txt; '
                   'synsets.txt and synset_words.txt beside it name the classes')
    g.add_argument('--images', metavar='DIR', help='where the listed images are (default: ROOT/val for '
                   'ROOT/meta/LIST)')
    g.add_argument('--train-list', metavar='LIST', help='training list, for the images per class (default: '
                   'train.txt beside --labels, when there)')
    g.add_argument('--probs', metavar='P.npy', help='the probability matrix of the same list (--eval --save-probs): '
                   'a calibration panel (accuracy against top-1 probability, expected calibration error)')
    g.add_argument('--logdir', metavar='RUN', help='the run: curves (stats.json), settings (config.yaml, or the command line in log.log), newest '
                   'checkpoint, per-image losses (sample_loss/)')
    g = p.add_argument_group('output')
    g.add_argument('--out', required=True, metavar='HTML', help='the page to write')
    g.add_argument('--thumb-classes', type=positive_int, default=report.Limits.classes, help='thumbnails for '
                   'this many worst classes (default: %(default)s)')
    g.add_argument('--thumbs-per-class', type=positive_int, default=report.Limits.per_class,
                   help='misclassified images shown per class (default: %(default)s)')
    g.add_argument('--thumb-size', type=positive_int, default=report.Limits.size, help='pixels on the longer side '
                   '(default: %(default)s)')
    g.add_argument('--max-thumb-mb', type=positive_float, default=report.Limits.max_bytes / 2 ** 20,
                   help='all thumbnails together at most this many MB (default: %(default)g)')
    return p


def train_counts(path, num_classes):
    if not path or not os.path.isfile(path):
        return None, None
    _, labels = read_list(path)
    if len(labels) and labels.max() >= num_classes:
        raise InputError('{}: label {} outside the {} classes'.format(path, int(labels.max()), num_classes))
    return np.bincount(labels, minlength=num_classes), labels


def estimated_noise(logdir, train_labels, num_classes):
    """Per class, the fraction of seen training images DivideMix's split calls noisy, from the
    newest epoch's sample-loss files; (None, None) without them. (noise, the epoch)"""
    from webvision.results.noisy_labels import noise_report, split
    from webvision.results.sample_loss import read_losses
    files = glob.glob(os.path.join(logdir, 'sample_loss', 'epoch-*.npy'))
    epochs = sorted({int(m.group(1)) for m in (re.search(r'epoch-(\d+)(\.task-\d+)?\.npy$', f) for f in files) if m})
    if not epochs or train_labels is None:
        return None, None
    paths = [f for f in files if re.search(r'epoch-{}(\.task-\d+)?\.npy$'.format(epochs[-1]), f)]
    try:
        losses = read_losses(sorted(paths), len(train_labels))
    except InputError as e:         # an optional panel: a stale file must not cost the whole page
        print('warning: no noise panel: {}'.format(e), file=sys.stderr)
        return None, None
    clean, _ = split(losses, train_labels, num_classes)
    return noise_report(clean, ~np.isnan(losses), train_labels, num_classes)[3], epochs[-1]


def train_list_path(args):
    return args.train_list or os.path.join(os.path.dirname(os.path.abspath(args.labels)), 'train.txt')


def build(args):
    """The page's HTML and a one-line summary."""
    names, labels, top5, synsets, words, num_classes = scored(args.predictions, args.labels)
    root = os.path.dirname(os.path.dirname(os.path.abspath(args.labels)))
    train_path = train_list_path(args)
    counts_train, train_labels = train_counts(train_path, num_classes)
    noise, epoch = estimated_noise(args.logdir, train_labels, num_classes) if args.logdir else (None, None)
    errors, rows, counts, err1 = report.class_rows(labels, top5, num_classes, synsets, words, counts_train, noise)
    limits = report.Limits(args.thumb_classes, args.thumbs_per_class, args.thumb_size,
                           int(args.max_thumb_mb * 2 ** 20))
    worst = report.worst_classes(counts, err1, limits.classes)
    thumbs, unreadable, full = report.thumbnails(names, labels, top5[:, 0], worst, args.images or
                                                 os.path.join(root, 'val'), limits)
    note = '{} images from the {} worst classes (top-1 error), up to {} each{}{}.'.format(
        sum(len(v) for v in thumbs.values()), len(worst), limits.per_class,
        '; {} could not be read'.format(unreadable) if unreadable else '',
        '; stopped at the --max-thumb-mb budget' if full else '')
    figures = []
    if args.logdir and os.path.isfile(os.path.join(args.logdir, 'stats.json')):
        figures.append(('Training curves', plots.png_data_uri(plots.curves_figure(
            read_stats(args.logdir), os.path.basename(os.path.normpath(args.logdir))))))
    if counts_train is not None:
        figures.append(('Top-1 error against training images per class', plots.png_data_uri(plots.scatter_figure(
            counts_train, err1, 'training images (log)', 'val top-1 error', 'the long tail', log_x=True))))
    if noise is not None:
        figures.append(('Top-1 error against estimated label noise per class (epoch {})'.format(epoch),
                        plots.png_data_uri(plots.scatter_figure(noise, err1, 'estimated noise (sample-loss split)',
                                                                'val top-1 error', 'noisy classes'))))
    if args.probs:
        probs = ProbsFile(args.probs)
        check_same_list([probs], names, args.labels)
        if probs.shape[1] != num_classes:
            raise InputError('--probs {}: {:,} classes, but {} has {:,}'.format(
                args.probs, probs.shape[1], args.labels, num_classes))
        bins = report.reliability(*report.confidence(probs, labels))
        figures.append(('Calibration of {}: top-1 accuracy against top-1 probability; expected calibration error '
                        '{:.2f} %'.format(args.probs, 100 * bins[-1]), plots.png_data_uri(plots.reliability_figure(*bins))))
    about = [('predictions', os.path.abspath(args.predictions)), ('labels', os.path.abspath(args.labels)),
             ('images', '{:,} in {:,} classes'.format(len(labels), num_classes))]
    if args.logdir:
        settings = report.run_settings(args.logdir)
        about += [('run', os.path.abspath(args.logdir)),
                  ('settings', settings) if settings else ('command', report.run_argv(args.logdir) or '(no log.log)'),
                  ('newest checkpoint', report.newest_checkpoint(args.logdir) or '(none)')]
    about.append(('written', time.strftime('%Y-%m-%d %H:%M:%S')))
    pairs = report.confused_pairs(labels, top5[:, 0], num_classes, limits.pairs)
    page = report.render('Report: ' + os.path.basename(args.predictions), about, errors, rows, pairs, thumbs,
                         note, figures)
    return page, '{} classes, {} thumbnails, {} figures'.format(num_classes, sum(len(v) for v in thumbs.values()),
                                                              len(figures))


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    try:
        check_output(args.out, '--out', [('--predictions', args.predictions), ('--labels', args.labels),
                                         ('--probs', args.probs), ('--train-list', train_list_path(args))] +
                     [('--labels (its meta)', p) for p in class_meta_paths(args.labels)])
        if args.logdir and not os.path.isdir(args.logdir):
            raise InputError('--logdir {}: no such folder'.format(args.logdir))
        page, summary = build(args)
        write_atomic(args.out, page)
    except (InputError, OSError, ValueError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    print('Wrote {} ({}, {:.1f} MB)'.format(os.path.abspath(args.out), summary, len(page) / 2 ** 20))
    return 0


if __name__ == '__main__':
    sys.exit(main())
