#!/usr/bin/env python3
"""Draws a run's training curves from tensorpack's LOGDIR/stats.json into a PNG: train and
validation top-1/top-5 error (plain and class-balanced) and the learning rate against epoch.

  utils/plot_log.py LOGDIR [--out LOGDIR/curves.png]
"""
import argparse
import os
import sys

from webvision.core.errors import InputError
from webvision.core.fileio import atomic_path, check_output
from webvision.report.plots import close, curves_figure
from webvision.results.stats import read_stats, stats_path


def plot(stats, out, title):
    """The curves figure of a run's stats, written to the PNG ``out`` (complete or absent)."""
    fig = curves_figure(stats, title)
    with atomic_path(out, suffix='.png') as tmp:
        fig.savefig(tmp)
    close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('logdir')
    p.add_argument('--out', help='PNG to write (default: LOGDIR/curves.png)')
    args = p.parse_args(argv)
    out = args.out or os.path.join(args.logdir, 'curves.png')
    try:
        check_output(out, '--out', [('LOGDIR (its stats)', stats_path(args.logdir))])
        plot(read_stats(args.logdir), out, os.path.basename(os.path.normpath(args.logdir)))
    except (OSError, InputError, ValueError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    print('Wrote {}'.format(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
