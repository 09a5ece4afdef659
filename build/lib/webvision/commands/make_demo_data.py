#!/usr/bin/env python3
"""Builds the embedded demo set (webvision/data/demo.py says how) at --root and --root-test; rerunning skips
a complete build. imagenet-resnet.py builds it on first use without --data; this is for building
it elsewhere or ahead of time."""
import argparse
import sys

from webvision.data.demo import DEFAULT_ROOT, build_demo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=DEFAULT_ROOT, help='where to build (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    build_demo(args.root, args.seed)
    return 0


if __name__ == '__main__':
    sys.exit(main())
