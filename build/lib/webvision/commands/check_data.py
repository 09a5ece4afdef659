#!/usr/bin/env python3
"""Checks a prepared root before days of training, and says what is wrong with it.

  utils/check_data.py --root ROOT [--load CKPT] [--decode sample|all|none] [--no-shared]

Checks: meta/synsets.txt (repeated ids); each list present (train, val; train_google and
train_flickr when there): every line "name label" with the label in range, names inside their
image folder, files present, names listed twice; images decode (a random --sample of each list,
or all of them in parallel); the val labels against the classes (the 1.0/2.0 trap: WebVision
1.0's val list with a 2.0 root, or the reverse, scores 0 % without any error); meta/dataset.json
against synsets.txt; with --load, the checkpoint's head against the class count; val images whose
bytes are also a training image (by size, then hash). Prints a report: notes, warnings, and
errors naming the file, line and value (the first --show of each kind). Exit status 1 on errors.
"""
import argparse
import concurrent.futures
import os
import sys
import time

import numpy as np

from webvision.data import datacheck
from webvision.core.cli import positive_int, report
from webvision.core.errors import InputError
from webvision.data.layouts import read_dataset_json
from webvision.data.listscan import Lookups


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', required=True, help='a prepared root (utils/preprocess.py, prepare_imagenet_val.py)')
    p.add_argument('--load', metavar='CKPT', help='a checkpoint or .npz whose class count must match the root\'s')
    p.add_argument('--decode', choices=('sample', 'all', 'none'), default='sample',
                   help='decode a random sample of each list (default), every image, or none')
    p.add_argument('--sample', type=positive_int, default=500, help='images decoded per list with --decode sample (default 500)')
    p.add_argument('--no-shared', action='store_true', help='skip the search for val images that are also training '
                   'images (it reads every training file whose size a val file has)')
    p.add_argument('--threads', type=positive_int, default=8, help='parallel file lookups and decodes (default 8)')
    p.add_argument('--show', type=positive_int, default=20, help='errors printed of each kind (default 20; all are counted)')
    p.add_argument('--seed', type=int, default=0, help='of the decoding sample')
    return p


def checkpoint_classes(path):
    """(path, class count of its head); TensorFlow is imported only here."""
    from webvision.weights.checkpoints import read_num_classes
    return path, read_num_classes(path)


def run(args, findings):
    root = args.root
    if not os.path.isdir(os.path.join(root, 'meta')):
        raise InputError('{}: no meta/ folder; prepare the tree with utils/preprocess.py first'.format(root))
    synsets = datacheck.check_synsets(root, findings)
    if synsets is None:
        return {}
    info = read_dataset_json(root)
    if info:
        findings.notes.append('prepared from: {}'.format(', '.join('{} {}'.format(k, info[k]) for k in (
            'version', 'tree', 'subset', 'source') if info.get(k))))
    rng = np.random.RandomState(args.seed)
    reports = {}
    with Lookups(args.threads) as lookups, concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
        for name, folder, _ in datacheck.LISTS:
            if not os.path.isfile(os.path.join(root, 'meta', name + '.txt')):
                if name == 'val':
                    findings.error('lists', '{}: missing'.format(os.path.join(root, 'meta', name + '.txt')))
                elif name == 'train':
                    findings.notes.append('no meta/train.txt: a test root; its val list is checked')
                continue
            try:
                reports[name] = datacheck.scan_list(
                    root, name, folder, len(synsets), findings, lookups,
                    sample=args.sample if args.decode == 'sample' else 0,
                    decode_pool=pool if args.decode == 'all' else None, rng=rng)
            except InputError as e:         # bytes that are not text: the rest of this list is unreadable
                findings.error('lists', str(e))
                continue
            lookups.settle()
            datacheck.repeated_lines(reports[name], findings)
            if args.decode == 'sample':
                tried = datacheck.decode_sample(reports[name], pool, findings)
                findings.notes.append('{}: {:,} lines, {:,} images decoded'.format(name, reports[name].lines, tried))
            else:
                findings.notes.append('{}: {:,} lines'.format(name, reports[name].lines))
    checkpoint = checkpoint_classes(args.load) if args.load else None
    datacheck.check_classes(root, synsets, reports, findings, info, checkpoint)
    if 'train' in reports and 'val' in reports and not args.no_shared:
        read = datacheck.shared_files(root, reports['train'], reports['val'], findings, args.threads)
        findings.notes.append('val images also in train: compared {:,} training files of a val file\'s size'.format(read))
    return reports


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    findings = datacheck.Findings(args.show)
    start = time.time()
    try:
        run(args, findings)
    except (InputError, OSError) as e:
        return report(e)
    errors = sum(findings.counts.values())
    print('{}: {} ({:.0f} s)'.format(args.root, '{:,} error(s)'.format(errors) if errors else 'no errors', time.time() - start))
    findings.print(sys.stdout)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
