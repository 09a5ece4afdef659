#!/usr/bin/env python3
"""Converting ResNeXt-101 32x48d (828 M parameters, 3.3 GB in float32; WSL's largest model):
time and peak memory of utils/convert_torch.py, beside the model's size (the baseline), measured
in the same run. The weights are random, in torchvision's structure; the disk needs about twice
the model's size free.

  bench/convert_wsl.py [--arch resnext101_32x48d] [--json out.json]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests'))


def make_checkpoint(arch, path):
    """A torchvision-structured state dict with random values, built without initialising a model."""
    import torch
    import torch_resnet
    with torch.device('meta'):
        shapes = {k: (v.shape, v.dtype) for k, v in torch_resnet.build(arch).state_dict().items()}
    g = torch.Generator().manual_seed(0)
    sd = {k: (torch.randn(shape, generator=g) * 0.01 if dtype.is_floating_point else torch.zeros(shape, dtype=dtype))
          for k, (shape, dtype) in shapes.items()}
    torch.save(sd, path)
    return sum(v.numel() * v.element_size() for v in sd.values() if v.dtype.is_floating_point)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='resnext101_32x48d')
    p.add_argument('--json', help='also write the figures here')
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get('TMPDIR', '/tmp')) as tmp:
        pth, npz = os.path.join(tmp, 'in.pth'), os.path.join(tmp, 'out.npz')
        size = make_checkpoint(args.arch, pth)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.time()
        proc = subprocess.run([sys.executable, os.path.join(ROOT, 'utils', 'convert_torch.py'), pth, npz,
                               '--arch', args.arch], capture_output=True, text=True)
        seconds = time.time() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        if proc.returncode != 0:
            sys.exit('conversion failed:\n' + proc.stderr[-3000:])
        if peak <= before * 1024:
            print('warning: an earlier child process had a larger peak; the figure below is an upper bound')
        row = {'arch': args.arch, 'model_bytes': size, 'seconds': seconds, 'peak_rss_bytes': peak,
               'peak_over_model': peak / size, 'npz_bytes': os.path.getsize(npz)}
    print('| converting {} | time | peak memory | model size (baseline) | peak / model |'.format(args.arch))
    print('|---|---|---|---|---|')
    print('| utils/convert_torch.py | {:.1f} s | {:.2f} GB | {:.2f} GB | {:.2f}x |'.format(
        seconds, peak / 1e9, size / 1e9, peak / size))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(row, f, indent=1)


if __name__ == '__main__':
    main()
