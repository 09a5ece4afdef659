#!/usr/bin/env python3
"""Prepares an extracted WebVision 2018 tree for imagenet-resnet.py, without moving or deleting
a single downloaded image (the original os.rename'd them, so a crash half-way lost the tree).

  utils/preprocess.py --root DIR

Reads DIR/info/synsets.txt, DIR/info/train_filelist_{all,google,flickr}.txt, DIR/val_filelist.txt,
DIR/test_filelist.txt and the image folders DIR/google, DIR/flickr, DIR/val_images_resized,
DIR/test_images_resized, and writes:

  DIR/meta/synsets.txt, synset_words.txt      class id = line number
  DIR/meta/train.txt (all), train_google.txt, train_flickr.txt, val.txt
  DIR/train/google -> ../google, DIR/train/flickr -> ../flickr, DIR/val -> val_images_resized
  DIR/test/            a test root: val -> ../test_images_resized, meta/val.txt ("name 0"), meta/synsets.txt
  DIR/meta/missing.txt listed images that are not on disk, and listed names that would leave their
                       image folder (absolute, or with ".."), refused (both left out of the lists)

Rerunning is safe: links that exist are kept, lists are rewritten atomically. CRLF line ends,
trailing blanks and a byte-order mark are tolerated; a malformed line or bytes that are not UTF-8
stop it with the file, line and value. A val or test image listed twice is kept once. Ends with
a report: classes, images per split, missing and refused names, repeats, classes with no images.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.errors import InputError  # noqa: E402
from lib.fileio import read_lines, write_atomic  # noqa: E402
from lib.lists import iter_labelled, write_list, write_synsets  # noqa: E402

TRAIN_LISTS = {'train': 'train_filelist_all.txt', 'train_google': 'train_filelist_google.txt',
               'train_flickr': 'train_filelist_flickr.txt'}
LINKS = [('train/google', '../google'), ('train/flickr', '../flickr'), ('val', 'val_images_resized'),
         ('test/val', '../test_images_resized')]


class PrepareError(InputError):
    pass


def read_synsets(root):
    path = os.path.join(root, 'info', 'synsets.txt')
    synsets = []
    for lineno, line in read_lines(path):
        wnid, _, name = line.partition(' ')
        synsets.append((wnid, name.strip()))
    if not synsets:
        raise PrepareError('{}: no synsets'.format(path))
    return synsets


def read_list(path, num_classes, labelled=True):
    """[(name, label)]; label 0 where the list has none (a test list: the whole line is the name,
    spaces included). A name is everything before the last blank-separated field."""
    if not labelled:
        return [(line, 0) for _, line in read_lines(path)]
    return [(name, label) for _, name, label in iter_labelled(path, num_classes)]


def is_safe_name(name):
    """Whether a listed name stays inside its image folder: relative, without ".." components."""
    parts = name.replace('\\', '/').split('/')
    return parts[0] != '' and '..' not in parts


def screen(rows, list_path, refused, keep_first=False):
    """Rows without names that leave the image folder (each added to ``refused`` with the list),
    and, with ``keep_first``, without repeated names (the first is kept); (rows, repeats)."""
    kept, seen, repeats = [], set(), 0
    for name, label in rows:
        if not is_safe_name(name):
            refused.append('{}\t{}\trefused: outside the image folder'.format(name, list_path))
            continue
        if keep_first:
            if name in seen:
                repeats += 1
                continue
            seen.add(name)
        kept.append((name, label))
    return kept, repeats


def ensure_link(root, link, target):
    """Creates ``link`` -> ``target`` (relative) unless it is already there; refuses to replace a
    real folder."""
    path = os.path.join(root, link)
    os.makedirs(os.path.dirname(path) or root, exist_ok=True)
    if os.path.islink(path):
        if os.readlink(path) != target:
            raise PrepareError('{} links to {}, expected {}; remove it to rerun'.format(path, os.readlink(path), target))
        return
    if os.path.exists(path):
        raise PrepareError('{} exists and is not a link; preprocess never replaces real files'.format(path))
    os.symlink(target, path)


def split_present(rows, image_dir, missing, list_path):
    kept = []
    for name, label in rows:
        if os.path.isfile(os.path.join(image_dir, name)):
            kept.append((name, label))
        else:
            missing.append('{}\t{}'.format(os.path.join(image_dir, name), list_path))
    return kept


def prepare(root):
    synsets = read_synsets(root)
    n = len(synsets)
    meta, test_meta = os.path.join(root, 'meta'), os.path.join(root, 'test', 'meta')
    os.makedirs(meta, exist_ok=True)
    os.makedirs(test_meta, exist_ok=True)
    for link, target in LINKS:
        ensure_link(root, link, target)
    write_synsets(meta, synsets)
    write_synsets(test_meta, synsets)

    missing, refused, repeats, counts = [], [], {}, {}
    for out, src in TRAIN_LISTS.items():
        path = os.path.join(root, 'info', src)
        if not os.path.isfile(path):
            if out == 'train':
                raise PrepareError('{}: missing'.format(path))
            continue
        rows, _ = screen(read_list(path, n), path, refused if out == 'train' else [])
        rows = split_present(rows, os.path.join(root, 'train'), missing if out == 'train' else [], path)
        write_list(os.path.join(meta, out + '.txt'), rows)
        counts[out] = rows
    for out_dir, src, image_dir, labelled in ((meta, 'val_filelist.txt', 'val', True),
                                              (test_meta, 'test_filelist.txt', 'test/val', False)):
        path = os.path.join(root, src)
        split = 'val' if labelled else 'test'
        rows, repeats[split] = screen(read_list(path, n, labelled), path, refused, keep_first=True)
        rows = split_present(rows, os.path.join(root, image_dir), missing, path)
        write_list(os.path.join(out_dir, 'val.txt'), rows)
        counts[split] = rows
    write_atomic(os.path.join(meta, 'missing.txt'), ''.join(m + '\n' for m in refused + missing))
    return synsets, counts, missing, refused, repeats


def report(root, synsets, counts, missing, refused, repeats):
    print('{}: {} classes'.format(root, len(synsets)))
    for split in ('train', 'train_google', 'train_flickr', 'val', 'test'):
        if split in counts:
            print('  {:<13} {:>10,} images'.format(split, len(counts[split])))
    where = ' (listed in {})'.format(os.path.join(root, 'meta', 'missing.txt'))
    print('  missing       {:>10,} listed images not on disk{}'.format(len(missing), where if missing else ''))
    print('  refused       {:>10,} listed names outside their image folder (absolute or with ..){}'.format(
        len(refused), where if refused else ''))
    for split in ('val', 'test'):
        if repeats.get(split):
            print('  {} list: {:,} repeated line(s) dropped, the first of each kept'.format(split, repeats[split]))
    for split in ('train', 'val'):
        have = {label for _, label in counts[split]}
        empty = [w for c, (w, _) in enumerate(synsets) if c not in have]
        print('  classes with no {} image: {}{}'.format(
            split, len(empty), ' (' + ', '.join(empty[:10]) + (', ...' if len(empty) > 10 else '') + ')' if empty else ''))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', required=True, help='the extracted WebVision 2018 folder')
    args = p.parse_args(argv)
    try:
        report(args.root, *prepare(args.root))
    except (InputError, OSError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
