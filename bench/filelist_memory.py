#!/usr/bin/env python3
"""Memory of a WebVision-sized file list (16 M lines by default): our FileList (one bytes buffer,
offsets, labels) beside the original's Python list of (path, label) tuples, measured in the same
run. For each: the peak while reading the list, and the proportional set size (PSS) of the main
process plus 2 forked loader processes after the loaders have walked every entry.

  bench/filelist_memory.py [--lines 16000000] [--json out.json]
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def write_list(path, lines, classes=5000):
    with open(path, 'w') as f:
        for start in range(0, lines, 100000):
            f.write(''.join('google/q{:04d}/{:06d}.jpg {}\n'.format(i % classes, i // classes, i % classes)
                            for i in range(start, min(start + 100000, lines))))


def read_ours(path):
    import webvision_dataset as wd
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
    import webvision_dataset  # noqa: F401  (imports TensorFlow; in every run, so that it cancels out)
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
    p.add_argument('--json')
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'train.txt')
        write_list(path, args.lines)
        rows = [run(kind, path, args.loaders) for kind in ('none', 'ours', 'tuples')]
    empty, ours, base = rows
    for r in rows:      # what the list itself costs: the same processes without one subtracted
        r['list_peak_read_bytes'] = r['peak_read_bytes'] - empty['peak_read_bytes']
        r['list_total_pss_bytes'] = r['total_pss_bytes'] - empty['total_pss_bytes']
    print('| {:,} lines, main + {} loaders (list only) | peak while reading | total PSS after walking |'.format(
        args.lines, args.loaders))
    print('|---|---|---|')
    for r, label in ((ours, 'FileList (ours)'), (base, 'list of tuples (original)')):
        print('| {} | {:.2f} GB | {:.2f} GB |'.format(
            label, r['list_peak_read_bytes'] / 1e9, r['list_total_pss_bytes'] / 1e9))
    print('| ratio ours / original | {:.2f}x | {:.2f}x |'.format(
        ours['list_peak_read_bytes'] / base['list_peak_read_bytes'],
        ours['list_total_pss_bytes'] / base['list_total_pss_bytes']))
    print('(processes without a list: {:.2f} GB peak, {:.2f} GB total PSS; subtracted above)'.format(
        empty['peak_read_bytes'] / 1e9, empty['total_pss_bytes'] / 1e9))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
