#!/usr/bin/env python3
"""Peak memory of utils/ensemble.py beside the plain way (np.load every matrix whole, then the
weighted mean), on the same float16 probability matrices, each in its own process (VmHWM).

  bench/ensemble_memory.py [--models 4] [--images 50000] [--classes 5000]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
from common import figure, report

PEAK = 'print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 2 ** 20)'
OURS = ('import runpy, sys; sys.argv = sys.argv[1:]\ntry:\n    runpy.run_path(sys.argv[0], run_name="__main__")\n'
        'except SystemExit:\n    pass\n' + PEAK)
PLAIN = ('import sys, numpy as np\nmats = [np.load(p, allow_pickle=False) for p in sys.argv[1:]]\n'
         'mean = sum(m.astype(np.float32) for m in mats) / len(mats)\ntop5 = np.argsort(-mean, axis=1)[:, :5]\n' + PEAK)


def make(folder, models, images, classes):
    from webvision.results.probs import probs_writer
    names = ['img{}.jpg'.format(i) for i in range(images)]
    with open(os.path.join(folder, 'val.txt'), 'w') as f:
        f.writelines('{} {}\n'.format(n, i % classes) for i, n in enumerate(names))
    rng = np.random.RandomState(0)
    paths = []
    for m in range(models):
        paths.append(os.path.join(folder, '{}.npy'.format(m)))
        with probs_writer(paths[-1], names, classes) as out:
            for start in range(0, images, 5000):
                out[start:start + 5000] = rng.uniform(0, 1, (min(5000, images - start), classes)).astype(np.float16)
    return paths


def peak_gb(code, args):
    out = subprocess.run([sys.executable, '-c', code] + args, capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', type=int, default=4)
    p.add_argument('--images', type=int, default=50000)
    p.add_argument('--classes', type=int, default=5000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = make(folder, args.models, args.images, args.classes)
        ours = peak_gb(OURS, [os.path.join(ROOT, 'utils', 'ensemble.py'), '--probs'] + paths +
                       ['--list', os.path.join(folder, 'val.txt'), '--out', os.path.join(folder, 'e.json')])
        plain = peak_gb(PLAIN, paths)
    size = args.models * args.images * args.classes * 2 / 2 ** 30
    report(__file__, [figure('ensemble of {} models, {:,} x {:,} float16 each ({:.1f} GB): peak memory'.format(
        args.models, args.images, args.classes, size), 'GB', [ours], 'np.load each whole, then the mean', [plain],
        higher_is_better=False)])


if __name__ == '__main__':
    main()
