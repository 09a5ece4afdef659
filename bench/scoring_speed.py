#!/usr/bin/env python3
"""Scoring 300,000 predictions over 5,000 classes: utils/eval_score.py (our predictions JSON, the
four errors) beside the original system's scorer (a JSON list of top-5 lists and one of labels,
Python loops over every prediction, once per metric), each as a fresh process, wall time including
the interpreter's start. Both must print the same four errors.

  bench/scoring_speed.py [--predictions 300000] [--classes 5000] [--repeats 3]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The original's algorithm (one pass per metric over every prediction, per-class sums in lists),
# as a self-contained script over its two input files.
ORIGINAL = '''
import json, sys
top5 = json.load(open(sys.argv[1]))
labels = json.load(open(sys.argv[2]))
C = int(sys.argv[3])
for name, k in (("Top1", 1), ("Top5", 5)):
    wrong = sum(1. for p, l in zip(top5, labels) if l not in p[:k])
    print("{} Error: {:.6f}".format(name, wrong / len(labels)))
for name, k in (("Balanced Top1", 1), ("Balanced Top5", 5)):
    err, n = [0.] * C, [0.] * C
    for p, l in zip(top5, labels):
        if l not in p[:k]:
            err[l] += 1.
        n[l] += 1.
    rates = [err[c] / n[c] for c in range(C) if n[c]]
    print("{} Error: {:.6f}".format(name, sum(rates) / len(rates)))
'''


def make_inputs(folder, n, classes):
    import numpy as np
    rng = np.random.RandomState(0)
    labels = rng.randint(0, classes, n)
    top5 = np.stack([rng.permutation(classes)[:5] for _ in range(min(n, 1000))])[rng.randint(0, min(n, 1000), n)]
    hit = (rng.rand(n) < 0.7) & ~(top5 == labels[:, None]).any(axis=1)   # ids in a row stay distinct
    top5[hit, rng.randint(0, 5, hit.sum())] = labels[hit]
    names = ['{:07d}.jpg'.format(i) for i in range(n)]
    with open(os.path.join(folder, 'synsets.txt'), 'w') as f:
        f.write(''.join('n{:08d}\n'.format(c) for c in range(classes)))
    with open(os.path.join(folder, 'val.txt'), 'w') as f:
        f.write(''.join('{} {}\n'.format(a, b) for a, b in zip(names, labels)))
    with open(os.path.join(folder, 'predictions.json'), 'w') as f:
        json.dump([{'file': a, 'label': int(b), 'top5': t.tolist(), 'prob': [0.5, 0.2, 0.1, 0.1, 0.1]}
                   for a, b, t in zip(names, labels, top5)], f)
    with open(os.path.join(folder, 'top5.json'), 'w') as f:
        json.dump(top5.tolist(), f)
    with open(os.path.join(folder, 'labels.json'), 'w') as f:
        json.dump(labels.tolist(), f)
    with open(os.path.join(folder, 'original.py'), 'w') as f:
        f.write(ORIGINAL)


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError('{} failed:\n{}'.format(cmd, out.stderr[-2000:]))
    errors = {k: round(float(v), 5) for k, v in re.findall(r'^([\w ]+) Error: ([\d.]+)', out.stdout, re.M)}
    return seconds, errors


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--predictions', type=int, default=300000)
    p.add_argument('--classes', type=int, default=5000)
    p.add_argument('--repeats', type=int, default=3)
    args = p.parse_args()
    from common import figure, report
    tmp = tempfile.mkdtemp(prefix='bench-scoring-')
    try:
        make_inputs(tmp, args.predictions, args.classes)
        ours_cmd = [sys.executable, os.path.join(ROOT, 'utils', 'eval_score.py'), '--predictions',
                    os.path.join(tmp, 'predictions.json'), '--labels', os.path.join(tmp, 'val.txt')]
        orig_cmd = [sys.executable, os.path.join(tmp, 'original.py'), os.path.join(tmp, 'top5.json'),
                    os.path.join(tmp, 'labels.json'), str(args.classes)]
        ours, orig = [], []
        for _ in range(args.repeats):
            (s1, e1), (s2, e2) = timed(ours_cmd), timed(orig_cmd)
            if e1.keys() != e2.keys() or len(e1) != 4 or any(abs(e1[k] - e2[k]) > 6e-5 for k in e1):  # ours: 4 places
                raise AssertionError('the scorers disagree: ours {} original {}'.format(e1, e2))
            ours.append(s1)
            orig.append(s2)
            print('  ours {:.2f} s, original {:.2f} s'.format(s1, s2), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [figure('scoring {:,} predictions, {:,} classes'.format(args.predictions, args.classes), 's wall',
                   ours, "original's per-prediction loops", orig, higher_is_better=False,
                   note='the same four errors, e.g. Balanced Top5 {}'.format(e1['Balanced Top5']))]
    report(__file__, rows)


if __name__ == '__main__':
    main()
