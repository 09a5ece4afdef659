#!/usr/bin/env python3
"""Writes the CodaLab submission for the WebVision challenge from a predictions file:

  utils/json2sub.py --predictions P.json --test-list TESTROOT/meta/val.txt --out predictions.txt [--zip]

One line per image of the test list, in its order: ``name l1 l2 l3 l4 l5``, five class ids, most
confident first. Everything is checked before anything is written; the first offending row is
named and nothing is written when the counts differ, an image has no prediction or an unknown
one, a row has fewer than 5 or repeated ids, or an id is outside the class list. The file (and
with --zip, OUT.zip holding it, the upload) is written atomically.

The number of classes comes from --num-classes, --synsets, or synsets.txt beside the test list.
"""
import argparse
import io
import os
import sys
import zipfile

from webvision.core.cli import positive_int
from webvision.core.errors import InputError
from webvision.core.fileio import check_outputs, write_atomic
from webvision.data.lists import class_meta, class_meta_paths, read_list
from webvision.core.memory import no_gc_for_this_process
from webvision.results.predictions import align, read_predictions, topk_array


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--predictions', required=True, metavar='P', help='predictions JSON from --eval')
    p.add_argument('--test-list', required=True, metavar='LIST', help='the test list ("name" or "name 0" lines)')
    p.add_argument('--out', default='predictions.txt', help='submission file (default: %(default)s)')
    p.add_argument('--zip', action='store_true', help='also write OUT with .zip, ready to upload')
    p.add_argument('--num-classes', type=positive_int, help='class count (default: from --synsets)')
    p.add_argument('--synsets', help='synset id per line (default: synsets.txt beside LIST)')
    return p


def num_classes_for(args):
    if args.num_classes:
        return args.num_classes
    synsets, _ = class_meta(args.test_list, args.synsets)
    if not synsets:
        raise InputError('cannot tell the number of classes: no {} ; pass --num-classes or --synsets'.format(
            args.synsets or os.path.join(os.path.dirname(os.path.abspath(args.test_list)), 'synsets.txt')))
    return len(synsets)


def submission_lines(pred_path, list_path, num_classes):
    names, _ = read_list(list_path, need_labels=False)
    pred_names, rows = read_predictions(pred_path)
    if len(rows) != len(names):
        raise InputError('{} has {} predictions but {} lists {} images'.format(
            pred_path, len(rows), list_path, len(names)))
    order = align(pred_path, pred_names, list_path, names)
    top5 = topk_array(pred_path, rows, num_classes, pred_names)[order].tolist()
    return ['{} {} {} {} {} {}'.format(name, *ids) for name, ids in zip(names, top5)]


def zipped(name, text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, text)
    return buf.getvalue()


def zip_path(args):
    """OUT with .zip, or an error when that is OUT itself (the upload would replace its own text)."""
    zpath = os.path.splitext(args.out)[0] + '.zip'
    if os.path.abspath(zpath) == os.path.abspath(args.out):
        raise InputError('--out {} with --zip: the zip would overwrite the text file; name the text file '
                         'e.g. {}.txt'.format(args.out, os.path.splitext(args.out)[0]))
    return zpath


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    no_gc_for_this_process()
    try:
        zpath = zip_path(args) if args.zip else None
        check_outputs([('--out', args.out), ('--zip', zpath)],
                      [('--predictions', args.predictions), ('--test-list', args.test_list),
                       ('--synsets', class_meta_paths(args.test_list, args.synsets)[0])])
        lines = submission_lines(args.predictions, args.test_list, num_classes_for(args))
        text = '\n'.join(lines) + '\n'
        write_atomic(args.out, text)
        print('Wrote {} lines to {}'.format(len(lines), args.out))
        if zpath:
            write_atomic(zpath, zipped(os.path.basename(args.out), text))
            print('Wrote {}'.format(zpath))
    except (InputError, OSError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        print('nothing written', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
