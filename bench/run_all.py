#!/usr/bin/env python3
"""Runs every benchmark in bench/ (each in its own process, each writing bench/results/<name>.json)
and gathers their figures into one table: bench/results/bench.md and bench/results/bench.json.
Every figure is the median of repeated runs, with its spread, beside a baseline measured in the
same run. `make bench` runs this.

  bench/run_all.py [--only dataflow_speed,scoring_speed] [--quick]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
from common import RESULTS, markdown

# name -> arguments; each fits in a few minutes on 2 cores (--quick: less than one)
BENCHMARKS = [
    ('dataflow_speed', ['--repeats', '3'], ['--repeats', '1', '--images', '600']),
    ('scoring_speed', ['--repeats', '3'], ['--repeats', '1', '--predictions', '30000']),
    ('filelist_memory', ['--repeats', '1'], ['--repeats', '1', '--lines', '1000000']),
    ('model_speed', ['--repeats', '3', '--steps', '2'], ['--repeats', '1', '--steps', '1', '--size', '112']),
    ('graph_load', ['--repeats', '2'], ['--repeats', '1', '--build-depth', '50', '--load-arch', '50', 'resnet', '4']),
    ('convert_wsl', ['--repeats', '2'], ['--repeats', '1', '--arch', 'resnext50_32x4d']),
    ('convert_caffe', ['--repeats', '2'], ['--repeats', '1', '--arch', 'resnext50_32x4d']),
    ('recipe_speed', ['--repeats', '3', '--steps', '20'], ['--repeats', '1', '--steps', '3']),
    ('ensemble_memory', [], ['--images', '5000']),
    ('report_speed', ['--repeats', '3'], ['--repeats', '1', '--predictions', '5000', '--classes', '500', '--train', '50000']),
    ('preprocess_speed', ['--repeats', '2'], ['--repeats', '1', '--lines', '1000000']),
    ('eval_crop_speed', ['--repeats', '3'], ['--repeats', '1', '--images', '20']),
    ('learning', ['--repeats', '2'], ['--quick']),        # the slowest: about 15 minutes (--quick: 3)
]


def machine():
    cpu = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name')), '?')
    return '{} cores, {}, Python {}'.format(len(os.sched_getaffinity(0)), cpu, platform.python_version())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--only', help='comma-separated names, of: ' + ', '.join(n for n, _, _ in BENCHMARKS))
    p.add_argument('--quick', action='store_true', help='small sizes and one run each: checks that they work')
    args = p.parse_args()
    names = [n for n, _, _ in BENCHMARKS]
    only = args.only.split(',') if args.only else names
    unknown = sorted(set(only) - set(names))
    if unknown:
        p.error('unknown benchmark(s) {}; choose from {}'.format(', '.join(unknown), ', '.join(names)))
    os.makedirs(RESULTS, exist_ok=True)
    rows, failed, sections = [], [], []
    for name, full, quick in BENCHMARKS:
        if name not in only:
            continue
        print('== {} {}'.format(name, ' '.join(quick if args.quick else full)), flush=True)
        start = time.time()
        proc = subprocess.run([sys.executable, os.path.join(HERE, name + '.py')] + (quick if args.quick else full))
        path = os.path.join(RESULTS, name + '.json')
        if proc.returncode != 0 or not os.path.isfile(path) or os.path.getmtime(path) < start:
            failed.append(name)
            continue
        with open(path) as f:
            result = json.load(f)
        rows += result['rows']
        sections.append((name, result.get('extra', {}), time.time() - start))
    table = markdown(rows)
    notes = ['- {} ({:.0f} s): {}'.format(n, sec, '; '.join('{}: {}'.format(k, v) for k, v in extra.items()) or '-')
             for n, extra, sec in sections]
    text = '# Benchmarks, {}\n\n{}\n\n{}\n\n{}\n'.format(
        time.strftime('%Y-%m-%d %H:%M'), machine(), table, '\n'.join(notes))
    if failed:
        text += '\nFAILED: {}\n'.format(', '.join(failed))
    with open(os.path.join(RESULTS, 'bench.md'), 'w') as f:
        f.write(text)
    with open(os.path.join(RESULTS, 'bench.json'), 'w') as f:
        json.dump({'machine': machine(), 'rows': rows, 'failed': failed}, f, indent=1)
    print('\n' + text)
    print('written: {}/bench.md and bench.json'.format(RESULTS))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
