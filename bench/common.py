"""Shared by the benchmarks: figures measured several times, each beside a baseline measured in the
same run, in one record format that bench/run_all.py gathers into bench/results/bench.{md,json}."""
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, 'results')


def summary(values):
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values), 'runs': len(values)}


def figure(name, unit, ours, baseline_name, baseline, higher_is_better=True, note=''):
    """One row: our values and the baseline's (lists of repeated measurements). ``advantage`` is
    how many times better ours is (>1: ours better), whichever direction "better" is."""
    o, b = summary(ours), summary(baseline)
    ratio = o['median'] / b['median'] if higher_is_better else b['median'] / o['median']
    return {'figure': name, 'unit': unit, 'ours': o, 'baseline_name': baseline_name, 'baseline': b,
            'higher_is_better': higher_is_better, 'advantage': ratio, 'note': note}


def _fmt(v):
    return '{:,.0f}'.format(v) if abs(v) >= 100 else '{:.3g}'.format(v)


def _cell(s):
    spread = (s['max'] - s['min']) / s['median'] * 100 if s['median'] else 0.
    return '{} (±{:.0f} %, n={})'.format(_fmt(s['median']), spread / 2, s['runs'])


def markdown(rows):
    lines = ['| figure | unit | ours: median (half-spread, runs) | baseline | baseline: median | ours vs baseline |',
             '|---|---|---|---|---|---|']
    for r in rows:
        better = 'higher' if r['higher_is_better'] else 'lower'
        lines.append('| {} | {} ({} is better) | {} | {} | {} | {:.2f}x{} |'.format(
            r['figure'], r['unit'], better, _cell(r['ours']), r['baseline_name'], _cell(r['baseline']),
            r['advantage'], ' ({})'.format(r['note']) if r['note'] else ''))
    return '\n'.join(lines)


def report(script, rows, extra=None):
    """Prints the rows as a table and writes them to bench/results/<script>.json."""
    os.makedirs(RESULTS, exist_ok=True)
    name = os.path.splitext(os.path.basename(script))[0]
    with open(os.path.join(RESULTS, name + '.json'), 'w') as f:
        json.dump({'benchmark': name, 'rows': rows, 'extra': extra or {}}, f, indent=1)
    print(markdown(rows))
    for k, v in (extra or {}).items():
        print('- {}: {}'.format(k, v))
