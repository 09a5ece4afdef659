#!/usr/bin/env python3
"""utils/preprocess.py on WebVision 2.0-sized lists with no images present (the lists alone: all,
google and flickr, 16.75 M lines together, plus val and test), beside the version before the
streaming rewrite (git show BASELINE:utils/preprocess.py), each a fresh process, alternating;
wall time and peak resident memory of each run (wait4's ru_maxrss).

  bench/preprocess_speed.py [--lines 16750000] [--repeats 1] [--baseline d0f5fad]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_tree(folder, lines, classes=5000, val=250000):
    """info/ lists of a 2.0 tree: all = half of ``lines``, google and flickr the rest (a 70/30
    split, as in the release), val and test lists; empty image folders."""
    import numpy as np
    rng = np.random.RandomState(0)
    info = os.path.join(folder, 'info')
    for d in ('info', 'google', 'flickr', 'val_images_resized', 'test_images_resized'):
        os.makedirs(os.path.join(folder, d))
    with open(os.path.join(info, 'synsets.txt'), 'w') as f:
        f.write(''.join('n{:08d} thing {}\n'.format(c, c) for c in range(classes)))
    n_all = lines // 2
    n_google = n_all * 7 // 10
    labels = np.sort(rng.randint(0, classes, n_all))
    with open(os.path.join(info, 'train_filelist_all.txt'), 'w') as a, \
            open(os.path.join(info, 'train_filelist_google.txt'), 'w') as g, \
            open(os.path.join(info, 'train_filelist_flickr.txt'), 'w') as fl:
        for start in range(0, n_all, 500000):
            rows = ['{}/q{:05d}/{:06d}.jpg {}\n'.format('google' if i < n_google else 'flickr', labels[i], i, labels[i])
                    for i in range(start, min(n_all, start + 500000))]
            a.write(''.join(rows))
            g.write(''.join(r for r in rows if r[0] == 'g'))
            fl.write(''.join(r for r in rows if r[0] == 'f'))
    with open(os.path.join(folder, 'val_filelist.txt'), 'w') as f:
        f.write(''.join('val{:07d}.jpg {}\n'.format(i, i % classes) for i in range(val)))
    with open(os.path.join(folder, 'test_filelist.txt'), 'w') as f:
        f.write(''.join('test{:07d}.jpg\n'.format(i) for i in range(val)))


def measure(script, tree):
    """Runs ``script`` in a child whose resource use is read with wait4 (Popen would reap it first)."""
    for name in ('meta', 'train', 'val', 'test'):
        path = os.path.join(tree, name)
        if os.path.islink(path):
            os.remove(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.chdir(ROOT)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(sys.executable, [sys.executable, script, '--root', tree])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError('{} failed with status {}'.format(script, status))
    return seconds, usage.ru_maxrss / 2 ** 20          # kB -> GB


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--lines', type=int, default=16750000, help='lines of the three training lists together')
    p.add_argument('--repeats', type=int, default=1)
    p.add_argument('--baseline', default='d0f5fad', help='the commit whose preprocess.py is the baseline')
    args = p.parse_args()
    from common import figure, report
    tmp = tempfile.mkdtemp(prefix='bench-preprocess-')
    try:
        base_tree = os.path.join(tmp, 'baseline')       # the baseline commit's own files, its lib/ included
        os.makedirs(base_tree)
        archive = subprocess.run(['git', 'archive', args.baseline], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(['tar', '-x', '-C', base_tree], input=archive, check=True)
        old = os.path.join(base_tree, 'utils', 'preprocess.py')
        tree = os.path.join(tmp, 'webvision')
        make_tree(tree, args.lines)
        ours, base = [], []
        for k in range(args.repeats):
            order = [(ours, os.path.join(ROOT, 'utils', 'preprocess.py')), (base, old)]
            for store, script in (order if k % 2 == 0 else order[::-1]):
                store.append(measure(script, tree))
                print('  {}: {:.1f} s, {:.2f} GB'.format(os.path.basename(script), *store[-1]), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    name = 'preprocess.py, {:.2f} M list lines, no images'.format(args.lines / 1e6)
    rows = [figure(name + ': time', 's', [s for s, _ in ours], 'preprocess.py at ' + args.baseline,
                   [s for s, _ in base], higher_is_better=False, note='goal: under 60 s'),
            figure(name + ': peak memory', 'GB', [m for _, m in ours], 'preprocess.py at ' + args.baseline,
                   [m for _, m in base], higher_is_better=False, note='goal: under 1 GB')]
    report(__file__, rows, extra={'inputs': 'all + google + flickr lists of 5,000 classes, 250,000-line val and '
                                            'test lists, empty image folders (every lookup misses)'})
    return 0


if __name__ == '__main__':
    sys.exit(main())
