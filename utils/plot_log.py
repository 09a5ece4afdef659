#!/usr/bin/env python3
"""Draws a run's training curves from tensorpack's LOGDIR/stats.json into a PNG: train and
validation top-1/top-5 error (plain and class-balanced) and the learning rate against epoch.

  utils/plot_log.py LOGDIR [--out LOGDIR/curves.png]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.errors import InputError  # noqa: E402
from lib.fileio import atomic_path  # noqa: E402
from lib.stats import LEARNING_RATE, TRAIN_ERRORS, VAL_ERRORS, read_stats, series  # noqa: E402

LABELS = ['train top-1', 'train top-5', 'val top-1', 'val top-5', 'val balanced top-1', 'val balanced top-5']
STYLES = ['C0--', 'C1--', 'C0-', 'C1-', 'C2-', 'C3-']
CURVES = list(zip(TRAIN_ERRORS + VAL_ERRORS, LABELS, STYLES))    # (stats.json key, label, style)


def plot(stats, out, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    drawn = 0
    for key, label, style in CURVES:
        x, y = series(stats, key)
        if x:
            ax.plot(x, y, style, marker='.', label=label)
            drawn += 1
    if not drawn:
        raise ValueError('stats.json has none of {}'.format(', '.join(k for k, _, _ in CURVES)))
    ax.set_xlabel('epoch')
    ax.set_ylabel('error')
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    x, lr = series(stats, LEARNING_RATE)
    if x:
        ax2 = ax.twinx()
        ax2.plot(x, lr, 'k:', label='learning rate')
        ax2.set_yscale('log')
        ax2.set_ylabel('learning rate')
        ax2.legend(loc='upper center', fontsize='small')
    ax.legend(loc='upper right', fontsize='small')
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(out, suffix='.png') as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('logdir')
    p.add_argument('--out', help='PNG to write (default: LOGDIR/curves.png)')
    args = p.parse_args(argv)
    out = args.out or os.path.join(args.logdir, 'curves.png')
    try:
        plot(read_stats(args.logdir), out, os.path.basename(os.path.normpath(args.logdir)))
    except (OSError, InputError, ValueError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    print('Wrote {}'.format(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
