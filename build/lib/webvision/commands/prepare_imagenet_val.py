#!/usr/bin/env python3
"""Builds a labelled test root from ILSVRC2012's val images for the classes of a WebVision root
(cross-dataset evaluation: mini-WebVision models are scored on ImageNet val's images of their 50
classes), linking the images, never copying them.

  utils/prepare_imagenet_val.py --imagenet-val DIR --synsets ROOT/meta/synsets.txt --out TESTROOT
  imagenet-resnet.py --eval --data TESTROOT --load CKPT ...      # errors over those classes

DIR is either the usual class-folder layout (DIR/n01440764/ILSVRC2012_val_00000293.JPEG), or a
flat folder of the 50,000 images with --labels FILE: "name wnid" lines, or Kaggle's
LOC_val_solution.csv (ImageId,PredictionString: the first word of PredictionString is the wnid).
Each image whose wnid is a line of --synsets gets that line's number as its label; the others are
left out and counted. Writes TESTROOT/val -> DIR, TESTROOT/meta/val.txt, meta/synsets.txt (all of
--synsets, so the class count matches the model), synset_words.txt when --synsets has one beside
it, and meta/dataset.json; ends with a report.
"""
import argparse
import collections
import os
import re
import sys

from webvision.core.cli import report as report_error
from webvision.core.errors import InputError
from webvision.core.fileio import check_folder_output, check_input, open_input, read_lines, write_atomic
from webvision.data.layouts import write_dataset_json
from webvision.data.listscan import is_safe_name
from webvision.data.lists import read_synsets, short, write_list

WNID = re.compile(r'^n\d{8}$')
IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png')
KAGGLE_HEADER = 'ImageId,PredictionString'


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--imagenet-val', required=True, metavar='DIR', help='ILSVRC2012 val images: class folders, '
                   'or a flat folder with --labels')
    p.add_argument('--synsets', required=True, help='the classes, one wnid a line (a WebVision root\'s meta/synsets.txt)')
    p.add_argument('--labels', metavar='FILE', help='for a flat folder: "name wnid" lines or Kaggle\'s LOC_val_solution.csv')
    p.add_argument('--out', required=True, metavar='TESTROOT', help='the test root to write (a new folder, or one '
                   'this script wrote)')
    return p


def class_folder_images(folder):
    """[(relative name, wnid)] of a class-folder layout; InputError when it has no class folder."""
    classes = sorted(d for d in os.listdir(folder) if WNID.match(d) and os.path.isdir(os.path.join(folder, d)))
    if not classes:
        raise InputError('{}: no class folders (n01440764/...); for a flat folder give --labels'.format(folder))
    return [(wnid + '/' + f, wnid) for wnid in classes for f in sorted(os.listdir(os.path.join(folder, wnid)))
            if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, wnid, f))]


def labelled_images(path):
    """[(name, wnid)] of a "name wnid" list or of Kaggle's CSV; InputError naming the line."""
    rows, kaggle = [], None
    for lineno, line in read_lines(path):
        if kaggle is None:
            kaggle = line.replace(' ', '') == KAGGLE_HEADER
            if kaggle:
                continue
        if kaggle:
            name, _, rest = line.partition(',')
            wnid = (rest.split() or [''])[0]
        else:
            parts = line.rsplit(None, 1)
            name, wnid = (parts[0], parts[1]) if len(parts) == 2 else (line, '')
        if not WNID.match(wnid) or not name.strip():
            want = 'ImageId,wnid ...' if kaggle else 'name wnid'
            raise InputError('{}:{}: expected "{}", got {}'.format(path, lineno, want, short(line)))
        if not is_safe_name(name) or '/' in name or '\\' in name:
            raise InputError('{}:{}: image name {} must be a file name in the folder'.format(path, lineno, short(name)))
        rows.append((name.strip(), wnid))
    return rows


def with_extension(folder, name):
    """The file for a listed name: as given, or with ILSVRC's .JPEG (Kaggle's ids have none)."""
    for candidate in (name, name + '.JPEG'):
        if os.path.isfile(os.path.join(folder, candidate)):
            return candidate
    return None


def build(args):
    folder = os.path.abspath(args.imagenet_val)
    if not os.path.isdir(folder):
        raise InputError('--imagenet-val {}: no such folder'.format(args.imagenet_val))
    check_input(args.synsets, '--synsets')
    synsets = read_synsets(args.synsets, unique=True)
    if not synsets:
        raise InputError('--synsets {}: no classes in it'.format(args.synsets))
    index = {w: c for c, w in reversed(list(enumerate(synsets)))}
    found, missing, repeats = [], 0, 0
    if args.labels:
        seen = set()
        for name, wnid in labelled_images(args.labels):
            real = with_extension(folder, name)
            if real is None:
                missing += 1
            elif real in seen:
                repeats += 1
            else:
                seen.add(real)
                found.append((real, wnid))
    else:
        found = class_folder_images(folder)
    rows = sorted((name, index[w]) for name, w in found if w in index)
    skipped = collections.Counter(w for _, w in found if w not in index)
    return folder, synsets, rows, skipped, missing, repeats


def write_root(args, folder, synsets, rows):
    meta = os.path.join(args.out, 'meta')
    os.makedirs(meta, exist_ok=True)
    link = os.path.join(args.out, 'val')
    if os.path.islink(link) and os.readlink(link) != folder:
        raise InputError('{} links to {}, not {}; remove it to rerun'.format(link, os.readlink(link), folder))
    if os.path.lexists(link) and not os.path.islink(link):
        raise InputError('{} exists and is not a link; this script never replaces real files'.format(link))
    if not os.path.islink(link):
        os.symlink(folder, link)
    with open_input(args.synsets, '--synsets') as f:
        write_atomic(os.path.join(meta, 'synsets.txt'), f.read())
    words = os.path.join(os.path.dirname(os.path.abspath(args.synsets)), 'synset_words.txt')
    if os.path.isfile(words):
        with open_input(words) as f:
            write_atomic(os.path.join(meta, 'synset_words.txt'), f.read())
    write_list(os.path.join(meta, 'val.txt'), rows)
    write_dataset_json(meta, {'version': None, 'source': 'ILSVRC2012 val', 'images_from': folder,
                              'synsets': os.path.abspath(args.synsets), 'classes': len(synsets),
                              'images': {'val': len(rows)}})


def print_report(args, synsets, rows, skipped, missing, repeats):
    per_class = collections.Counter(label for _, label in rows)
    print('{}: {:,} ILSVRC2012 val images of {} of the {} classes in {}'.format(
        args.out, len(rows), len(per_class), len(synsets), args.synsets))
    if per_class:
        print('  images per class: {} to {}'.format(min(per_class.values()), max(per_class.values())))
    empty = [w for c, w in enumerate(synsets) if c not in per_class]
    if empty:
        print('  classes with no image: {}{}'.format(len(empty), ' (' + ', '.join(empty[:10]) + (', ...' if len(empty) > 10 else '') + ')'))
    print('  left out: {:,} images of {} classes not in --synsets'.format(sum(skipped.values()), len(skipped)))
    if missing:
        print('  {:,} images listed in {} are not in {}'.format(missing, args.labels, args.imagenet_val))
    if repeats:
        print('  {:,} repeated line(s) of {} dropped, the first of each kept'.format(repeats, args.labels))


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    try:
        check_folder_output(args.out, '--out')
        folder, synsets, rows, skipped, missing, repeats = build(args)
        if not rows:
            raise InputError('{}: no image of the classes in {}'.format(args.imagenet_val, args.synsets))
        write_root(args, folder, synsets, rows)
        print_report(args, synsets, rows, skipped, missing, repeats)
    except (InputError, OSError) as e:
        return report_error(e)
    return 0


if __name__ == '__main__':
    sys.exit(main())
