#!/usr/bin/env python3
"""Writes the exact crops a model sees as PNG files: what to look at first when its numbers differ
from PyTorch's. The transform is the one --eval and --predict would use for --load (the record in
a converted .npz or a run's transform.json; --eval-transform overrides it), at --image-size.

  webvision-preview-transform --load W.npz --out DIR IMAGE... [--tta flip|crops10|scales]
  (or: python3 utils/preview_transform.py ...)

Each IMAGE gives DIR/NAME.png (RGB, the crop's pixels unchanged; the caffe transform's float crop
rounded to whole levels, the model sees it unrounded), or DIR/NAME.view0.png ... for the views of
--tta; an image that cannot be read is named and the others are still written.
"""
import argparse
import os
import sys

import cv2
import numpy as np

from webvision.core.cli import positive_int
from webvision.core.constants import TTA_MODES
from webvision.core.errors import InputError
from webvision.core.fileio import atomic_path, check_folder_output, check_outputs
from webvision.data import transform as tr
from webvision.data.decode import decode_image, decoder


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('images', nargs='+', metavar='IMAGE')
    p.add_argument('--load', metavar='W', help='the weights: an .npz (converted ones carry their transform), a '
                   'checkpoint model-N or a run folder (its transform.json); without it, the toolkit\'s crop')
    p.add_argument('--out', required=True, metavar='DIR', help='folder for the PNG files (made if missing)')
    p.add_argument('--image-size', type=positive_int, help='the model\'s input size (default: the crop recorded with '
                   'the weights, else 224)')
    p.add_argument('--tta', default='none', choices=TTA_MODES, help='write the views of test-time augmentation '
                   '(default: %(default)s)')
    tr.add_transform_arg(p)
    return p


def outputs(images, out, views):
    """(image, [its PNG paths]) in order; two images of one name get the second's folder in front."""
    names, result = set(), []
    for path in images:
        stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0] or 'image'
        if stem in names:
            stem = '{}-{}'.format(os.path.basename(os.path.dirname(os.path.abspath(path))), stem)
        names.add(stem)
        result.append((path, [os.path.join(out, stem + ('.view{}'.format(v) if views > 1 else '') + '.png')
                              for v in range(views)]))
    return result


def write_png(path, bgr):
    if bgr.dtype != np.uint8:           # the caffe transform's float crop
        bgr = np.clip(np.rint(bgr), 0, 255).astype(np.uint8)
    with atomic_path(path, suffix='.png') as tmp:
        if not cv2.imwrite(tmp, bgr):
            raise InputError('{}: could not write the PNG'.format(path))


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    try:
        weights = os.path.join(args.load, 'model') if args.load and os.path.isdir(args.load) else args.load
        t = tr.choose(args.eval_transform, weights)
        args.image_size = args.image_size or t.crop
        decode = decoder(False, args.image_size, tta=args.tta, transform=t)
        views = getattr(decode, 'views', 1)
        check_folder_output(args.out, '--out')
        os.makedirs(args.out, exist_ok=True)
        plan = outputs(args.images, args.out, views)
        check_outputs([('--out', p) for _, paths in plan for p in paths], [('IMAGE', i) for i in args.images])
    except InputError as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    print('Transform: {}'.format(t.at_size(args.image_size).describe()))
    failed = 0
    for path, pngs in plan:
        im, reason = decode_image(path, decode)
        if im is None:
            print('{}: cannot be cropped: {}'.format(path, reason), file=sys.stderr)
            failed += 1
            continue
        for png, view in zip(pngs, im if views > 1 else [im]):
            write_png(png, view)
        print('{} -> {}'.format(path, ', '.join(pngs)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
