#!/usr/bin/env python3
"""Draws a run's training curves from tensorpack's LOGDIR/stats.json into a PNG: train and
validation top-1/top-5 error (plain and class-balanced) and the learning rate against epoch.

  utils/plot_log.py LOGDIR [--out LOGDIR/curves.png]
"""
import argparse
import json
import os
import sys

CURVES = [  # (stats.json key, label, style)
    ('train-error-top1', 'train top-1', 'C0--'),
    ('train-error-top5', 'train top-5', 'C1--'),
    ('val-error-top1', 'val top-1', 'C0-'),
    ('val-error-top5', 'val top-5', 'C1-'),
    ('val-balanced-error-top1', 'val balanced top-1', 'C2-'),
    ('val-balanced-error-top5', 'val balanced top-5', 'C3-'),
]


def read_stats(logdir):
    path = os.path.join(logdir, 'stats.json')
    if not os.path.isfile(path):
        raise FileNotFoundError('{}: no such file (is {} a training log folder?)'.format(path, logdir))
    with open(path, 'rb') as f:
        try:
            stats = json.loads(f.read().decode('utf-8'))
        except ValueError as e:
            raise ValueError('{}: not JSON ({})'.format(path, e)) from None
    if not isinstance(stats, list):
        raise ValueError('{}: expected a list of epochs, got {}'.format(path, type(stats).__name__))
    if not stats:
        raise ValueError('{}: no epoch recorded yet'.format(path))
    for i, s in enumerate(stats, 1):
        if not isinstance(s, dict) or not is_number(s.get('epoch_num')):
            raise ValueError('{}: entry {} has no epoch_num: {}'.format(path, i, repr(s)[:80]))
    return stats


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def series(stats, key):
    points = [(s['epoch_num'], s[key]) for s in stats if is_number(s.get(key))]
    return [p[0] for p in points], [p[1] for p in points]


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
    x, lr = series(stats, 'learning_rate')
    if x:
        ax2 = ax.twinx()
        ax2.plot(x, lr, 'k:', label='learning rate')
        ax2.set_yscale('log')
        ax2.set_ylabel('learning rate')
        ax2.legend(loc='upper center', fontsize='small')
    ax.legend(loc='upper right', fontsize='small')
    ax.set_title(title)
    fig.tight_layout()
    tmp = out + '.tmp.png'
    fig.savefig(tmp)
    os.replace(tmp, out)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('logdir')
    p.add_argument('--out', help='PNG to write (default: LOGDIR/curves.png)')
    args = p.parse_args(argv)
    out = args.out or os.path.join(args.logdir, 'curves.png')
    try:
        plot(read_stats(args.logdir), out, os.path.basename(os.path.normpath(args.logdir)))
    except (OSError, ValueError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    print('Wrote {}'.format(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
