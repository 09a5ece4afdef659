#!/usr/bin/env python3
"""The exact evaluation crops beside the approximate ones they replaced (#25), images/s of one
process decoding JPEG photos of three sizes, alternating, each repeated:

- toolkit: the whole image decoded, ResizeShortestEdge(256, cubic), CenterCrop(224), bit-identical to
  tensorpack's augmentors; before: a DCT-scaled decode of large JPEGs and only the crop resized;
- torchvision: Pillow's resize of the whole image, then CenterCrop, bit-identical to torchvision;
  before: only the crop's box resized (Pillow's ``box=``).

  bench/eval_crop_speed.py [--repeats 3] [--images 200]
"""
import argparse
import time

import cv2
import numpy as np

from common import figure, report
from webvision.data import decode, transform


class PreviousToolkitCrop(decode.CropDecoder):
    """The crop taken first (DCT-scaled decode where the crop allows), then resized to size."""
    box = decode.CenterCropDecoder.box

    def __init__(self, size):
        super().__init__(size)
        self.resize = size * 256 // 224


class PreviousTorchvisionCrop(decode.TorchvisionDecoder):
    def resized_crop(self, im, size, crop):
        (w, h), (new_w, new_h) = im.size, decode.resized_size(size, *im.size)
        if (new_w, new_h) == (w, h) or crop > new_w or crop > new_h:
            return self.center_crop(self.resize(im, size), crop)
        top, left = int(round((new_h - crop) / 2.)), int(round((new_w - crop) / 2.))
        sx, sy = w / new_w, h / new_h
        box = (left * sx, top * sy, (left + crop) * sx, (top + crop) * sy)
        return im.resize((crop, crop), self.FILTERS[self.t.interpolation], box=box)


def photos():
    from skimage import data
    base = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    sizes = {'WebVision-sized 256x341': (341, 256), 'ImageNet-sized 375x500': (500, 375),
             'large 1200x1600': (1600, 1200)}
    return {k: cv2.imencode('.jpg', cv2.resize(base, s, interpolation=cv2.INTER_AREA))[1].tobytes()
            for k, s in sizes.items()}


def rate(decoder, data, n):
    start = time.perf_counter()
    for _ in range(n):
        decoder(data)
    return n / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--images', type=int, default=200)
    args = p.parse_args()
    pairs = {'toolkit': (decode.CenterCropDecoder(224), PreviousToolkitCrop(224)),
             'torchvision': (decode.TorchvisionDecoder(transform.TORCHVISION),
                             PreviousTorchvisionCrop(transform.TORCHVISION))}
    rows = []
    for kind, (exact, previous) in pairs.items():
        for name, data in photos().items():
            ours, before = [], []
            for _ in range(args.repeats):
                ours.append(rate(exact, data, args.images))
                before.append(rate(previous, data, args.images))
            diff = np.abs(exact(data)[0].astype(int) - previous(data)[0])
            rows.append(figure('{} exact evaluation crop, {}'.format(kind, name), 'images/s', ours,
                               'the crop resized alone (before #25)', before,
                               note='the crops differ by {:.2f} grey levels on average, {} at most'.format(
                                   diff.mean(), diff.max())))
    report(__file__, rows, extra={'images per measurement': args.images})


if __name__ == '__main__':
    main()
