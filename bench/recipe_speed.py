#!/usr/bin/env python3
"""What the recipe options cost in training speed: the driver on the demo set with --sample-loss,
--ema, and --mixup with --cutmix, each beside the same run without it, alternating in one session.

Each run trains two epochs of --steps steps, the baseline first in odd repeats and last in even
ones, against the VM's drift; the figure is images/s of the second epoch (the first
includes building the graph), from the driver's own "Epoch 2 ... finished, time" line. A small model
(ResNet-18 at 112 px) makes the per-step costs of the options as large a share as they get.

  bench/recipe_speed.py [--steps 20] [--repeats 3]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
from common import figure, report

BATCH = 32
MODEL = ['-d', '18', '--image-size', '112', '--batch', str(BATCH), '--workers', '2', '--no-val']
OPTIONS = [('--sample-loss', ['--sample-loss']), ('--ema 0.999', ['--ema', '0.999']),
           ('--mixup 0.2 --cutmix 1.0', ['--mixup', '0.2', '--cutmix', '1.0'])]


def images_per_sec(data, steps, flags):
    with tempfile.TemporaryDirectory() as logdir:
        out = subprocess.run([sys.executable, os.path.join(ROOT, 'imagenet-resnet.py')] + MODEL +
                             ['--data', data, '--logdir', logdir, '--epochs', '2', '--steps-per-epoch', str(steps)] +
                             flags, capture_output=True, text=True, cwd=ROOT)
    m = re.search(r'Epoch 2 \(global_step \d+\) finished, time:([\d.]+) (sec|min|hour)', out.stdout + out.stderr)
    if out.returncode != 0 or not m:
        raise SystemExit('driver failed ({}):\n{}'.format(out.returncode, out.stderr[-3000:]))
    seconds = float(m.group(1)) * {'sec': 1, 'min': 60, 'hour': 3600}[m.group(2)]
    return steps * BATCH / seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--repeats', type=int, default=3)
    args = p.parse_args()
    from webvision.data.demo import build_demo
    data = build_demo()[0]
    plain, ours = [], {name: [] for name, _ in OPTIONS}
    for i in range(args.repeats):
        if i % 2 == 0:      # the baseline first, then last: the VM's drift within a run evens out
            plain.append(images_per_sec(data, args.steps, []))
        for name, flags in OPTIONS if i % 2 == 0 else OPTIONS[::-1]:
            ours[name].append(images_per_sec(data, args.steps, flags))
        if i % 2 == 1:
            plain.append(images_per_sec(data, args.steps, []))
    rows = [figure('training with {}, ResNet-18 at 112 px, batch {}'.format(name, BATCH), 'images/s', ours[name],
                   'the same run without it', plain) for name, _ in OPTIONS]
    report(__file__, rows)


if __name__ == '__main__':
    main()
