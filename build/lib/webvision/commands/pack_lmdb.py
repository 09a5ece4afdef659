#!/usr/bin/env python3
"""Packs a split of a prepared root into one LMDB file (tensorpack's LMDBSerializer format: each
record is [encoded image bytes, label, index]), so that training reads one file sequentially
instead of 16 M small ones: for slow disks, network file systems and clusters. Train with
``imagenet-resnet.py --format lmdb``; the same images and labels come out as from the files.

    webvision-pack-lmdb --root ROOT --split train [--source google]   -> ROOT/lmdb/train_google.lmdb
    webvision-pack-lmdb --root ROOT --split val                       -> ROOT/lmdb/val.lmdb

The file is written beside its destination and renamed when complete; an existing one is kept
(delete it to repack). Unreadable images are stored empty and counted, so every listed image keeps
its index (evaluation needs one row per listed image).
"""
import argparse
import os
import sys

from webvision.core.constants import SOURCES, SPLITS
from webvision.core.errors import InputError
from webvision.core.fileio import check_output
from webvision.core.process import configure_tensorflow


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', required=True, help='prepared dataset root')
    p.add_argument('--split', required=True, choices=SPLITS)
    p.add_argument('--source', default='all', choices=SOURCES, help='train only: which crawl\'s list')
    p.add_argument('--out', help='default: ROOT/lmdb/<list name>.lmdb')
    args = p.parse_args(argv)
    configure_tensorflow()
    from webvision.dataflow.dataset import WebVisionMeta, lmdb_path, write_lmdb   # tensorpack: after --help
    try:
        out = args.out or lmdb_path(args.root, args.split, args.source)
        if os.path.isdir(os.path.dirname(os.path.abspath(out))):       # else write_lmdb makes it
            check_output(out, '--out', [('the list', WebVisionMeta(args.root).list_path(args.split, args.source))])
        path, n, missing = write_lmdb(args.root, args.split, args.source, out)
    except (InputError, OSError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    if n is None:
        print('{} exists; kept (delete it to repack)'.format(path))
    else:
        print('wrote {}: {} records, {} unreadable images stored empty, {:.1f} MB'.format(
            path, n, missing, os.path.getsize(path) / 1e6))
    return 0


if __name__ == '__main__':
    sys.exit(main())
