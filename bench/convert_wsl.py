#!/usr/bin/env python3
"""Converting ResNeXt-101 32x48d (828 M parameters, 3.3 GB in float32; WSL's largest model):
time and peak memory of utils/convert_torch.py, beside loading the checkpoint and saving it
unchanged (time) and the model's size (memory), measured in the same run. The weights are random, in torchvision's structure; the disk needs about twice
the model's size free.

  bench/convert_wsl.py [--arch resnext101_32x48d] [--repeats 2]
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_checkpoint(arch, path):
    """A torchvision-structured state dict with random values, built without initialising a model."""
    import torch
    from webvision.weights import torch_resnet
    with torch.device('meta'):
        shapes = {k: (v.shape, v.dtype) for k, v in torch_resnet.build(arch).state_dict().items()}
    g = torch.Generator().manual_seed(0)
    sd = {k: (torch.randn(shape, generator=g) * 0.01 if dtype.is_floating_point else torch.zeros(shape, dtype=dtype))
          for k, (shape, dtype) in shapes.items()}
    torch.save(sd, path)
    return sum(v.numel() * v.element_size() for v in sd.values() if v.dtype.is_floating_point)


# The floor: loading the checkpoint and writing its arrays unchanged, no conversion.
PLAIN_COPY = """
import sys, numpy as np, torch
sd = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
np.savez(sys.argv[2], **{k.replace('.', '/'): v.numpy() for k, v in sd.items()})
"""


def timed_peak(cmd):
    """(seconds, peak RSS bytes) of cmd, run under a small wrapper whose only child it is."""
    wrapper = ('import resource, subprocess, sys, time; t = time.time(); '
               'r = subprocess.run(sys.argv[1:], capture_output=True, text=True); '
               'print(time.time() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024); '
               'sys.stderr.write(r.stderr); sys.exit(r.returncode)')
    proc = subprocess.run([sys.executable, '-c', wrapper] + cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit('{} failed:\n{}'.format(cmd, proc.stderr[-3000:]))
    seconds, peak = proc.stdout.split()
    return float(seconds), int(peak)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='resnext101_32x48d')
    p.add_argument('--repeats', type=int, default=2)
    args = p.parse_args()
    from common import figure, report
    runs, plain = [], []
    with tempfile.TemporaryDirectory(dir=os.environ.get('TMPDIR', '/tmp')) as tmp:
        pth, npz = os.path.join(tmp, 'in.pth'), os.path.join(tmp, 'out.npz')
        size = make_checkpoint(args.arch, pth)
        copy = os.path.join(tmp, 'plain_copy.py')
        with open(copy, 'w') as f:
            f.write(PLAIN_COPY)
        for _ in range(args.repeats):
            runs.append(timed_peak([sys.executable, os.path.join(ROOT, 'utils', 'convert_torch.py'), pth, npz,
                                    '--arch', args.arch]))
            os.remove(npz)
            plain.append(timed_peak([sys.executable, copy, pth, npz]))
            os.remove(npz)
            print('  convert {:.1f} s {:.2f} GB, plain copy {:.1f} s'.format(runs[-1][0], runs[-1][1] / 1e9, plain[-1][0]),
                  file=sys.stderr)
    rows = [
        figure('converting {}: time'.format(args.arch), 's', [r[0] for r in runs],
               'torch.load + np.savez unchanged (no conversion)', [r[0] for r in plain], higher_is_better=False),
        figure('converting {}: peak memory'.format(args.arch), 'GB', [r[1] / 1e9 for r in runs],
               'model size (float32)', [size / 1e9] * len(runs), higher_is_better=False,
               note='peak = {:.2f}x the model'.format(sorted(r[1] for r in runs)[len(runs) // 2] / size)),
    ]
    report(__file__, rows)


if __name__ == '__main__':
    main()
