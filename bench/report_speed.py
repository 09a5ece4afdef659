#!/usr/bin/env python3
"""Writing the report page (utils/report.py) for 50,000 val predictions over 5,000 classes, with a
training list, thumbnails of real JPEGs and a run's stats.json, beside scoring the same predictions
with the per-class CSV (utils/eval_score.py --per-class, what a user read before), each a fresh
process, wall time including the interpreter's start.

  bench/report_speed.py [--predictions 50000] [--classes 5000] [--train 1000000] [--repeats 3]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_inputs(folder, n, classes, train):
    """ROOT/meta (synsets, names, val, train lists), ROOT/val (hard links to 200 photo crops),
    predictions 70 % right, and a run folder with stats.json."""
    import numpy as np
    from webvision.data import demo
    rng = np.random.RandomState(0)
    for d in ('meta', 'val', 'photos', 'run'):
        os.makedirs(os.path.join(folder, d))
    sources = demo._sources()
    photos = []
    for i in range(200):
        path = os.path.join(folder, 'photos', '{}.jpg'.format(i))
        demo._write_jpeg(path, demo._random_crop(sources[i % len(sources)][1], rng))
        photos.append(path)
    labels = rng.randint(0, classes, n)
    top1 = np.where(rng.rand(n) < 0.7, labels, rng.randint(0, classes, n))
    top5 = np.stack([top1] + [(top1 + k) % classes for k in (1, 2, 3, 4)], axis=1)
    names = ['{:07d}.jpg'.format(i) for i in range(n)]
    for i, name in enumerate(names):
        os.link(photos[i % len(photos)], os.path.join(folder, 'val', name))
    meta = os.path.join(folder, 'meta')
    with open(os.path.join(meta, 'synsets.txt'), 'w') as f:
        f.write(''.join('n{:08d}\n'.format(c) for c in range(classes)))
    with open(os.path.join(meta, 'synset_words.txt'), 'w') as f:
        f.write(''.join('n{:08d} thing number {}\n'.format(c, c) for c in range(classes)))
    with open(os.path.join(meta, 'val.txt'), 'w') as f:
        f.write(''.join('{} {}\n'.format(a, b) for a, b in zip(names, labels)))
    train_labels = np.minimum(rng.zipf(1.3, train) - 1, classes - 1)         # a long tail
    with open(os.path.join(meta, 'train.txt'), 'w') as f:
        f.write(''.join('t/{:08d}.jpg {}\n'.format(i, c) for i, c in enumerate(train_labels)))
    with open(os.path.join(folder, 'predictions.json'), 'w') as f:
        json.dump([{'file': a, 'label': int(b), 'top5': t.tolist(), 'prob': [0.5, 0.2, 0.1, 0.1, 0.1]}
                   for a, b, t in zip(names, labels, top5)], f)
    with open(os.path.join(folder, 'run', 'stats.json'), 'w') as f:
        json.dump([{'epoch_num': e, 'train-error-top1': 1. / e, 'val-error-top1': 1.1 / e, 'learning_rate': 0.1}
                   for e in range(1, 61)], f)


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError('{} failed:\n{}'.format(cmd, out.stderr[-2000:]))
    return time.perf_counter() - t, out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--predictions', type=int, default=50000)
    p.add_argument('--classes', type=int, default=5000)
    p.add_argument('--train', type=int, default=1000000, help='training list lines (default: %(default)s)')
    p.add_argument('--repeats', type=int, default=3)
    args = p.parse_args()
    from common import figure, report
    tmp = tempfile.mkdtemp(prefix='bench-report-')
    try:
        make_inputs(tmp, args.predictions, args.classes, args.train)
        pred, labels = os.path.join(tmp, 'predictions.json'), os.path.join(tmp, 'meta', 'val.txt')
        page = os.path.join(tmp, 'report.html')
        ours = [sys.executable, os.path.join(ROOT, 'utils', 'report.py'), '--predictions', pred, '--labels', labels,
                '--logdir', os.path.join(tmp, 'run'), '--out', page]
        base = [sys.executable, os.path.join(ROOT, 'utils', 'eval_score.py'), '--predictions', pred, '--labels', labels,
                '--per-class', os.path.join(tmp, 'per_class.csv')]
        r, b = [], []
        for _ in range(args.repeats):
            seconds, out = timed(ours)
            r.append(seconds)
            print('  report: {:.1f} s ({})'.format(seconds, out.strip()), file=sys.stderr)
            b.append(timed(base)[0])
            print('  eval_score --per-class: {:.1f} s'.format(b[-1]), file=sys.stderr)
        size = os.path.getsize(page)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [figure('report page, {:,} predictions, {:,} classes'.format(args.predictions, args.classes), 's',
                   r, 'eval_score.py --per-class', b, higher_is_better=False,
                   note='the page draws figures and thumbnails the CSV has not; the goal is under 60 s')]
    report(__file__, rows, extra={'page': '{:.1f} MB'.format(size / 2 ** 20),
                                  'inputs': '{:,}-line training list, thumbnails from 200 JPEGs (shorter side 256), '
                                            '60-epoch stats.json'.format(args.train)})
    return 0


if __name__ == '__main__':
    sys.exit(main())
