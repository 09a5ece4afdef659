#!/usr/bin/env python3
"""Packs a split of a prepared root into one LMDB file (tensorpack's LMDBSerializer format: each
record is [encoded image bytes, label, index]), so that training reads one file sequentially
instead of 16 M small ones: for slow disks, network file systems and clusters. Train with
``imagenet-resnet.py --format lmdb``; the same images and labels come out as from the files.

    utils/pack_lmdb.py --root ROOT --split train [--source google]   -> ROOT/lmdb/train_google.lmdb
    utils/pack_lmdb.py --root ROOT --split val                       -> ROOT/lmdb/val.lmdb

The file is written beside its destination and renamed when complete; an existing one is kept
(delete it to repack). Unreadable images are stored empty and counted, so every listed image keeps
its index (evaluation needs one row per listed image).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfcompat  # noqa: F401,E402  (tensorpack imports TensorFlow)
from tensorpack.dataflow import DataFlow, LMDBSerializer  # noqa: E402

import webvision_dataset as wd  # noqa: E402
from utils.scoring import InputError  # noqa: E402


class _Records(DataFlow):
    def __init__(self, root, split, source):
        self.files = wd.WebVisionMeta(root).file_list(split, source)
        self.image_dir = wd.WebVisionMeta(root).image_dir(split)
        self.missing = 0

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        for i in range(len(self.files)):
            name, label = self.files[i]
            data, _ = wd.read_image_file(os.path.join(self.image_dir, name))
            if data is None:
                self.missing += 1
                data = b''
            yield [data, label, i]


def pack(root, split, source='all', out=None):
    """Returns (path, records written, unreadable), or (path, None, None) when it already exists."""
    out = out or wd.lmdb_path(root, split, source)
    if os.path.isfile(out):
        return out, None, None
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + '.partial'
    for stale in (tmp, tmp + '-lock'):
        if os.path.exists(stale):
            os.remove(stale)        # an interrupted earlier run
    records = _Records(root, split, source)
    LMDBSerializer.save(records, tmp)
    os.replace(tmp, out)
    if os.path.exists(tmp + '-lock'):
        os.remove(tmp + '-lock')
    return out, len(records), records.missing


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', required=True, help='prepared dataset root')
    p.add_argument('--split', required=True, choices=wd.SPLITS)
    p.add_argument('--source', default='all', choices=wd.SOURCES, help='train only: which crawl\'s list')
    p.add_argument('--out', help='default: ROOT/lmdb/<list name>.lmdb')
    args = p.parse_args(argv)
    try:
        path, n, missing = pack(args.root, args.split, args.source, args.out)
    except (wd.DataError, InputError, OSError) as e:
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
