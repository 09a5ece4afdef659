#!/usr/bin/env python3
"""Prepares an extracted WebVision 1.0 (2017) or 2.0 (2018) tree for imagenet-resnet.py, or a
subset of it (mini-WebVision), without moving, copying or deleting a single downloaded image.

  utils/preprocess.py --root TREE                                 # prepares TREE in place
  utils/preprocess.py --root TREE --subset mini --out MINI        # mini-WebVision in MINI
  utils/preprocess.py --root TREE --subset classes:0-99 --source all --out DIR

The version is told from the tree (--version to force it):
  2.0: info/synsets.txt, info/train_filelist_{all,google,flickr}.txt, val_filelist.txt,
       test_filelist.txt; images in google/, flickr/, val_images_resized/, test_images_resized/
  1.0: the same info/ lists, with info/val_filelist.txt and info/test_filelist.txt; images in
       google/, flickr/, val_images_256/, test_images_256/ (the 256-pixel release)
Writes into OUT (default TREE):
  meta/synsets.txt, synset_words.txt   class id = line number (a subset's classes from 0)
  meta/train.txt, train_google.txt, train_flickr.txt, val.txt   the listed images that exist
  train/google, train/flickr, val      links to the tree's image folders (absolute outside TREE)
  test/                a test root: val -> the test images, meta/val.txt ("name 0"), meta/synsets.txt
  meta/missing.txt     listed images not on disk and names that would leave their image folder
  meta/dataset.json    version, tree, subset, source and the counts below
--subset mini is the Google images of classes 0-49 and the val images of those classes (the
protocol of MentorNet, DivideMix, ELR); classes:FIRST-LAST takes others, relabelled from 0.

Rerunning is safe: links that exist are kept, lists are rewritten atomically. Lists are streamed
(16.75 M lines in well under 1 GB) and each listed path is looked up once, by --threads threads
(on a network file system the lookups are what takes the time). CRLF line ends, trailing blanks
and a byte-order mark are tolerated; a malformed line or bytes that are not UTF-8 stop it with the
file, line and value. A val or test image listed twice is kept once. Ends with a report.
"""
import argparse
import contextlib
import itertools
import os
import sys

import numpy as np

from webvision.core.cli import positive_int, report as report_error
from webvision.core.errors import InputError
from webvision.core.fileio import atomic_path, check_folder_output, read_lines
from webvision.data.layouts import LAYOUTS, TRAIN_LISTS, VERSIONS, detect_version, parse_subset, write_dataset_json
from webvision.data.listscan import Lookups, iter_blocks, parse_block, progress_bar, unsafe
from webvision.data.lists import write_synsets


class PrepareError(InputError):
    pass


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', required=True, help='the extracted WebVision tree (read only unless --out is left out)')
    p.add_argument('--version', choices=('auto',) + VERSIONS, default='auto', help='the tree\'s release (default: '
                   'told from its val list and image folder)')
    p.add_argument('--out', help='write the prepared root here (default: ROOT itself)')
    p.add_argument('--subset', help="'mini' (classes 0-49, Google images) or 'classes:FIRST-LAST'; needs --out")
    p.add_argument('--source', choices=('all', 'google', 'flickr'), help='which crawl\'s training images '
                   '(default: google with --subset mini, else all)')
    p.add_argument('--threads', type=positive_int, default=8, help='parallel file lookups (default 8; more hide a network file '
                   'system\'s latency, on a local disk 16 cost 40 %% more time than 1-8)')
    return p


def read_synsets(root):
    path = os.path.join(root, 'info', 'synsets.txt')
    if not os.path.isfile(path):
        raise PrepareError('{}: missing (is {} an extracted WebVision tree?)'.format(path, root))
    synsets = [(line.partition(' ')[0], line.partition(' ')[2].strip()) for _, line in read_lines(path)]
    if not synsets:
        raise PrepareError('{}: no synsets'.format(path))
    return synsets


def ensure_link(out, link, target):
    """Creates ``link`` -> ``target`` unless it is already there; never replaces a real folder."""
    path = os.path.join(out, link)
    os.makedirs(os.path.dirname(path) or out, exist_ok=True)
    if os.path.islink(path):
        if os.readlink(path) != target:
            raise PrepareError('{} links to {}, expected {}; remove it to rerun'.format(path, os.readlink(path), target))
        return
    if os.path.exists(path):
        raise PrepareError('{} exists and is not a link; preprocess never replaces real files'.format(path))
    os.symlink(target, path)


class Job:
    """What to prepare: the tree, where, which release, classes and crawl."""

    def __init__(self, args):
        self.root = os.path.abspath(args.root)
        self.out = os.path.abspath(args.out or args.root)
        check_folder_output(self.out, '--out')
        self.in_place = self.out == self.root
        if args.subset and self.in_place:
            raise PrepareError('--subset writes a new root: give --out DIR (not the tree itself)')
        self.version = detect_version(self.root) if args.version == 'auto' else args.version
        self.layout = LAYOUTS[self.version]
        self.synsets = read_synsets(self.root)
        self.first, self.last = parse_subset(args.subset) if args.subset else (0, len(self.synsets) - 1)
        if self.last >= len(self.synsets):
            raise PrepareError('--subset {}: {} has {} classes'.format(
                args.subset, os.path.join(self.root, 'info', 'synsets.txt'), len(self.synsets)))
        self.subset = args.subset
        self.source = args.source or ('google' if args.subset == 'mini' else 'all')
        self.threads = args.threads

    def target(self, folder, depth):
        """Link target of the tree's ``folder`` from a link ``depth`` folders below OUT."""
        return os.path.join('../' * depth, folder) if self.in_place else os.path.join(self.root, folder)

    def keep(self, labels):
        """Mask of the labels in the subset, and the labels renumbered from 0."""
        labels = np.asarray(labels, np.int64)
        return (labels >= self.first) & (labels <= self.last), labels - self.first


class Tally:
    """Counts of one list: kept lines, per-class counts, missing, refused and repeated names."""

    def __init__(self, num_classes):
        self.kept, self.missing, self.refused, self.repeats = 0, 0, 0, 0
        self.per_class = np.zeros(num_classes, np.int64)


def scan(job, lookups, src, image_dir, outs, missing, *, labelled=True, keep_first=False):
    """Streams the list ``src`` into the open files ``outs``: the lines in the subset whose image
    exists under ``image_dir``; the others go to ``missing`` (a file, or a sink for lists whose
    images another list already reported). Returns a Tally."""
    tally, seen = Tally(job.last - job.first + 1), set()
    with progress_bar(src) as bar:
        for first, lines in iter_blocks(src, bar):
            names, labels, _, text = parse_block(src, first, lines, len(job.synsets), labelled)
            if job.subset and labelled:
                keep = [i for i, label in enumerate(labels) if job.first <= label <= job.last]
                names, labels, text = [names[i] for i in keep], [labels[i] - job.first for i in keep], None
            bad = unsafe(names)
            for i in bad:
                missing.write('{}\t{}\trefused: outside the image folder\n'.format(names[i], src))
            tally.refused += len(bad)
            if keep_first or bad:
                names, labels = first_of_each(names, labels, seen if keep_first else None, bad, tally)
                text = None
            there = lookups.exist(image_dir, names)
            if text is None:
                text = [f'{n} {v}' for n, v in zip(names, labels)]
            kept = '\n'.join(itertools.compress(text, there))
            gone = [f'{image_dir}/{n}\t{src}\n' for n in itertools.compress(names, ~there)]
            missing.write(''.join(gone))
            for f in outs:
                f.write(kept + '\n' if kept else '')
            tally.kept += int(there.sum())
            tally.missing += len(names) - int(there.sum())
            tally.per_class += np.bincount(np.asarray(labels, np.int64)[there], minlength=len(tally.per_class))
    lookups.settle()
    return tally


def first_of_each(names, labels, seen, bad, tally):
    """The names not refused and, with a ``seen`` set, not seen before (val and test lists: the
    first of repeated names is kept)."""
    bad, kept = set(bad), ([], [])
    for i, (name, label) in enumerate(zip(names, labels)):
        if i in bad:
            continue
        if seen is not None and name in seen:
            tally.repeats += 1
            continue
        if seen is not None:
            seen.add(name)
        kept[0].append(name)
        kept[1].append(label)
    return kept


def make_links(job):
    sources = ('google', 'flickr') if job.source == 'all' else (job.source,)
    for crawl in sources:
        ensure_link(job.out, 'train/' + crawl, job.target(crawl, 1))
    ensure_link(job.out, 'val', job.target(job.layout['val_images'], 0))
    if os.path.isfile(os.path.join(job.root, job.layout['test_list'])):
        ensure_link(job.out, 'test/val', job.target(job.layout['test_images'], 1))


def train_outputs(job):
    """(list read, [meta lists written]) for the training lists of the chosen crawl."""
    if job.source != 'all':
        return [(TRAIN_LISTS[job.source], ['train', 'train_' + job.source])]
    return [(TRAIN_LISTS['all'], ['train']), (TRAIN_LISTS['google'], ['train_google']),
            (TRAIN_LISTS['flickr'], ['train_flickr'])]


def prepare(job):
    """Writes the prepared root; returns {list name: Tally}."""
    meta, test_meta = os.path.join(job.out, 'meta'), os.path.join(job.out, 'test', 'meta')
    os.makedirs(meta, exist_ok=True)
    make_links(job)
    synsets = job.synsets[job.first:job.last + 1]
    write_synsets(meta, synsets)
    tallies = {}
    with contextlib.ExitStack() as stack, Lookups(job.threads) as lookups:
        def opened(path):
            return stack.enter_context(open(stack.enter_context(atomic_path(path)), 'w'))
        missing = opened(os.path.join(meta, 'missing.txt'))
        for src, outs in train_outputs(job):
            path = os.path.join(job.root, src)
            if not os.path.isfile(path):
                if outs[0] == 'train':
                    raise PrepareError('{}: missing'.format(path))
                continue
            files = [opened(os.path.join(meta, o + '.txt')) for o in outs]
            tallies[outs[0]] = scan(job, lookups, path, os.path.join(job.out, 'train'), files,
                                    missing if outs[0] == 'train' else stack.enter_context(open(os.devnull, 'w')))
        val = os.path.join(job.root, job.layout['val_list'])
        if not os.path.isfile(val):
            raise PrepareError('{}: missing (the WebVision {} val list)'.format(val, job.version))
        tallies['val'] = scan(job, lookups, val, os.path.join(job.out, 'val'), [opened(os.path.join(meta, 'val.txt'))],
                              missing, keep_first=True)
        test = os.path.join(job.root, job.layout['test_list'])
        if os.path.isfile(test):
            os.makedirs(test_meta, exist_ok=True)
            write_synsets(test_meta, synsets)
            tallies['test'] = scan(job, lookups, test, os.path.join(job.out, 'test', 'val'),
                                   [opened(os.path.join(test_meta, 'val.txt'))], missing, labelled=False, keep_first=True)
            write_dataset_json(test_meta, {'version': job.version, 'tree': job.root, 'subset': job.subset,
                                           'split': 'test', 'labelled': False, 'images': {'val': tallies['test'].kept}})
    write_dataset_json(meta, {'version': job.version, 'tree': job.root, 'subset': job.subset, 'source': job.source,
                              'first_class': job.first, 'classes': len(synsets),
                              'images': {k: t.kept for k, t in tallies.items()}})
    return tallies


def print_report(job, tallies):
    print('{}: WebVision {}, {} classes{}'.format(job.out, job.version, job.last - job.first + 1, ' (classes {}-{} of {}, {} '
          'images)'.format(job.first, job.last, job.root, job.source) if job.subset else ''))
    for split in ('train', 'train_google', 'train_flickr', 'val', 'test'):
        if split in tallies:
            print('  {:<13} {:>10,} images'.format(split, tallies[split].kept))
    if 'test' not in tallies:
        print('  test: no {} in the tree; no test root written'.format(job.layout['test_list']))
    where = ' (listed in {})'.format(os.path.join(job.out, 'meta', 'missing.txt'))
    reported = [tallies[k] for k in ('train', 'val', 'test') if k in tallies]    # the crawls' lists repeat 'train'
    n_missing = sum(t.missing for t in reported)
    n_refused = sum(t.refused for t in reported)
    print('  missing       {:>10,} listed images not on disk{}'.format(n_missing, where if n_missing else ''))
    print('  refused       {:>10,} listed names outside their image folder (absolute or with ..){}'.format(
        n_refused, where if n_refused else ''))
    for split in ('val', 'test'):
        if split in tallies and tallies[split].repeats:
            print('  {} list: {:,} repeated line(s) dropped, the first of each kept'.format(split, tallies[split].repeats))
    synsets = job.synsets[job.first:job.last + 1]
    for split in ('train', 'val'):
        empty = [synsets[c][0] for c in np.flatnonzero(tallies[split].per_class == 0)]
        print('  classes with no {} image: {}{}'.format(
            split, len(empty), ' (' + ', '.join(empty[:10]) + (', ...' if len(empty) > 10 else '') + ')' if empty else ''))


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    try:
        job = Job(args)
        print_report(job, prepare(job))
    except (InputError, OSError) as e:
        return report_error(e)
    return 0


if __name__ == '__main__':
    sys.exit(main())
