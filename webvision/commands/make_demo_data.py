#!/usr/bin/env python3
"""Builds an embedded demo set at --root and --root-test; rerunning skips a complete build.

  photos: crops of the photos scikit-image and scikit-learn ship, 12 classes (webvision/data/demo.py);
          imagenet-resnet.py builds it on first use without --data.
  digits: scikit-learn's handwritten digits at 64 px, 10 classes, 70/20/10 % train/val/test, with
          --noise of the training labels wrong (webvision/data/digits.py); what make demo trains on.
"""
import argparse
import sys

from webvision.core.errors import InputError
from webvision.data.demo import DEFAULT_ROOT, build_demo
from webvision.data.digits import DEMO_NOISE, DIGITS_ROOT, build_digits_demo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--set', default='photos', choices=('photos', 'digits'), help='which (default: %(default)s)')
    parser.add_argument('--root', help='where to build (default: {} or {})'.format(DEFAULT_ROOT, DIGITS_ROOT))
    parser.add_argument('--noise', type=float, default=DEMO_NOISE, help='--set digits: the fraction of training '
                        'labels made wrong, each to another digit at random (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 <= args.noise < 1:
        parser.error('--noise must be in [0, 1), got {}'.format(args.noise))
    if args.set == 'photos' and args.noise != DEMO_NOISE:
        parser.error('--noise goes with --set digits (the photo set has its own 8 %)')
    try:
        if args.set == 'digits':
            build_digits_demo(args.root or DIGITS_ROOT, args.noise, args.seed)
        else:
            build_demo(args.root or DEFAULT_ROOT, args.seed)
    except InputError as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
