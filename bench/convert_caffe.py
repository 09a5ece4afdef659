#!/usr/bin/env python3
"""Converting a Caffe ResNeXt-101 32x48d (seed 2's largest: a 3.3 GB .caffemodel, one message over
protobuf's 2 GB limit) with utils/convert_caffe.py: time and peak memory, beside converting the
same weights from a PyTorch state dict with utils/convert_torch.py (time) and the model's size
(memory), measured in the same run. The .caffemodel is written in kaiyuyue/resnext-wsl-caffe's
layout (tests/helpers/caffe_writer.py) from random weights in torchvision's structure; each run
also checks that the two .npz hold the same arrays bit for bit, so the round trip is exact at
full size. The disk needs about four times the model's size free.

  bench/convert_caffe.py [--arch resnext101_32x48d] [--repeats 2]
"""
import argparse
import importlib.util
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WRITER = os.path.join(ROOT, 'tests', 'helpers', 'caffe_writer.py')


def caffe_writer():
    spec = importlib.util.spec_from_file_location('caffe_writer', WRITER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_weights(model):
    """Random float32 arrays of the model's state dict (a model on the meta device: no values),
    variances positive; integer entries (num_batches_tracked) left out, as Caffe has none."""
    rng = np.random.default_rng(0)
    out = {}
    for k, v in model.state_dict().items():
        if not v.dtype.is_floating_point:
            continue
        a = rng.standard_normal(tuple(v.shape), dtype=np.float32) * np.float32(0.01)
        out[k] = np.abs(a) + np.float32(0.5) if k.endswith('running_var') else a
    return out


def write_inputs(arch, proto, caffemodel, pth):
    """The same weights as .prototxt + .caffemodel and as a PyTorch state dict; their size in bytes."""
    import torch
    from webvision.weights import torch_resnet
    with torch.device('meta'):
        model = torch_resnet.build(arch)
    sd = random_weights(model)
    caffe_writer().write(model, proto, caffemodel, state_dict=sd)
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, pth)
    return sum(v.nbytes for v in sd.values())


def same_arrays(a, b):
    """Keys of two .npz whose arrays differ (the records of padding and transform aside), read one
    array at a time."""
    with np.load(a) as x, np.load(b) as y:
        keys = [k for k in x.files if not k.startswith('__')]
        if sorted(keys) != sorted(k for k in y.files if not k.startswith('__')):
            return ['the key sets differ']
        return [k for k in keys if not np.array_equal(x[k], y[k])]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='resnext101_32x48d')
    p.add_argument('--repeats', type=int, default=2)
    args = p.parse_args()
    from common import figure, report
    from convert_wsl import timed_peak
    runs, peer = [], []
    with tempfile.TemporaryDirectory(dir=os.environ.get('TMPDIR', '/tmp')) as tmp:
        proto, model, pth = (os.path.join(tmp, 'm' + ext) for ext in ('.prototxt', '.caffemodel', '.pth'))
        caffe_npz, torch_npz = os.path.join(tmp, 'caffe.npz'), os.path.join(tmp, 'torch.npz')
        size = write_inputs(args.arch, proto, model, pth)
        for _ in range(args.repeats):
            runs.append(timed_peak([sys.executable, os.path.join(ROOT, 'utils', 'convert_caffe.py'),
                                    proto, model, caffe_npz]))
            peer.append(timed_peak([sys.executable, os.path.join(ROOT, 'utils', 'convert_torch.py'), pth, torch_npz,
                                    '--arch', args.arch]))
            differ = same_arrays(caffe_npz, torch_npz)
            if differ:
                sys.exit('the .caffemodel did not convert back exactly: {}'.format(', '.join(differ[:5])))
            os.remove(caffe_npz)
            os.remove(torch_npz)
            print('  caffe {:.1f} s {:.2f} GB, torch {:.1f} s {:.2f} GB; the same arrays'.format(
                runs[-1][0], runs[-1][1] / 1e9, peer[-1][0], peer[-1][1] / 1e9), file=sys.stderr)
        caffemodel_bytes = os.path.getsize(model)
    peak = sorted(r[1] for r in runs)[len(runs) // 2]
    rows = [
        figure('converting a Caffe {}: time'.format(args.arch), 's', [r[0] for r in runs],
               'the same weights from a .pth (convert_torch)', [r[0] for r in peer], higher_is_better=False),
        figure('converting a Caffe {}: peak memory'.format(args.arch), 'GB', [r[1] / 1e9 for r in runs],
               'model size (float32)', [size / 1e9] * len(runs), higher_is_better=False,
               note='peak = {:.2f}x the model'.format(peak / size)),
    ]
    report(__file__, rows, extra={'caffemodel': '{:.2f} GB'.format(caffemodel_bytes / 1e9),
                                  'round trip': 'bit-exact against convert_torch, every run'})


if __name__ == '__main__':
    main()
