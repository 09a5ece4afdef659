#!/usr/bin/env python3
"""Memory of a WebVision-sized file list (16 M lines by default): our FileList (one bytes buffer,
offsets, labels) beside the original's Python list of (path, label) tuples, measured in the same
run. For each: the peak while reading the list, and the proportional set size (PSS) of the main
process plus 2 forked loader processes after the loaders have walked every entry.

  bench/filelist_memory.py [--lines 16000000] [--repeats 1]
"""
import argparse
import multiprocessing as mp
import os
import resource
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write_list(path, lines, classes=5000):
    with open(path, 'w') as f:
        for start in range(0, lines, 100000):
            f.write(''.join('google/q{:04d}/{:06d}.jpg {}\n'.format(i % classes, i // classes, i % classes)
                            for i in range(start, min(start + 100000, lines))))


def read_ours(path):
    from webvision.dataflow import dataset as wd
    return wd.FileList.read(path, 5000)


def read_tuples(path):
    """The original's way: a list of (path, label) tuples."""
    with open(path) as f:
        return [(line.split()[0], int(line.split()[1])) for line in f]


def walk(files, ready, done):
    """A loader: touches every entry as a DataFlow would, then reports and waits."""
    total = 0
    for i in range(len(files)):
        name, label = files[i]
        total += len(name) + label
    ready.put(total)
    done.wait()


def measure(kind, path, loaders, out):
    import psutil
    from webvision.core.memory import keep_freed_memory
    keep_freed_memory()             # as the driver and its loaders have it
    import webvision.dataflow.dataset  # noqa: F401  (imports TensorFlow; in every run, so that it cancels out)
    files = {'ours': read_ours, 'tuples': read_tuples, 'none': lambda _: []}[kind](path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ctx = mp.get_context('fork')
    ready, done = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=walk, args=(files, ready, done)) for _ in range(loaders)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()
    pss = sum(psutil.Process(pid).memory_full_info().pss for pid in [os.getpid()] + [p.pid for p in procs])
    done.set()
    for p in procs:
        p.join()
    out.put({'kind': kind, 'peak_read_bytes': peak, 'total_pss_bytes': pss})


def run(kind, path, loaders):
    """In a fresh process, so that the two never share memory."""
    ctx = mp.get_context('spawn')
    out = ctx.Queue()
    p = ctx.Process(target=measure, args=(kind, path, loaders, out))
    p.start()
    result = out.get()
    p.join()
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--lines', type=int, default=16000000)
    p.add_argument('--loaders', type=int, default=2)
    p.add_argument('--repeats', type=int, default=1)
    args = p.parse_args()
    from common import figure, report
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'train.txt')
        write_list(path, args.lines)
        for _ in range(args.repeats):
            empty, ours, base = [run(kind, path, args.loaders) for kind in ('none', 'ours', 'tuples')]
            # what the list itself costs: the same processes without a list subtracted
            runs.append({k: {m: (r[m] - empty[m]) / 1e9 for m in ('peak_read_bytes', 'total_pss_bytes')}
                         for k, r in (('ours', ours), ('tuples', base))})
    what = '{:,}-line file list'.format(args.lines)
    rows = [figure('{}: peak while reading'.format(what), 'GB', [r['ours']['peak_read_bytes'] for r in runs],
                   'Python list of (path, label) tuples', [r['tuples']['peak_read_bytes'] for r in runs],
                   higher_is_better=False),
            figure('{}: total PSS, main + {} loaders after walking it'.format(what, args.loaders), 'GB',
                   [r['ours']['total_pss_bytes'] for r in runs], 'Python list of (path, label) tuples',
                   [r['tuples']['total_pss_bytes'] for r in runs], higher_is_better=False)]
    report(__file__, rows, extra={'processes without a list': '{:.2f} GB peak, {:.2f} GB total PSS (subtracted)'.format(
        empty['peak_read_bytes'] / 1e9, empty['total_pss_bytes'] / 1e9)})


if __name__ == '__main__':
    main()
