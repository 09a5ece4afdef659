#!/usr/bin/env python3
"""Converts a torchvision-style ResNet / ResNeXt state dict (e.g. facebookresearch/WSL-Images'
ResNeXt-101 32x8d..32x48d) into the .npz that ``imagenet-resnet.py --load`` reads.

  utils/convert_torch.py IN.pth OUT.npz --arch resnext101_32x8d

What differs between the frameworks and is handled here or by the model:
- layout: PyTorch convolutions are OIHW, TensorFlow's HWIO; fully-connected weights are transposed;
- colour order: torchvision models take RGB, ours BGR (OpenCV), so the first convolution's input
  channels are reversed; the normalisation (ImageNet mean and std) is the same;
- batch norm: both use epsilon 1e-5; running statistics become the .../EMA variables;
- padding: PyTorch pads strided convolutions and the stem max-pool symmetrically, TensorFlow's
  SAME asymmetrically; resnet_model.py pads explicitly like PyTorch, so outputs agree.

Every source key is popped; the conversion fails naming any key left unconverted or any variable
of the model left without a value, and checks every shape against the model's graph. The file is
read with torch.load(weights_only=True): nothing but tensors is unpickled. Each tensor is freed
once converted, so converting the 3.3 GB 32x48d model peaks at 1.45x its size (bench/convert_wsl.py;
with mmap=True the file's pages stayed resident and it was 2.24x).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.process import configure_tensorflow  # noqa: E402

configure_tensorflow()
from lib.checkpoints import model_variables, write_npz  # noqa: E402
from lib.errors import InputError  # noqa: E402
from lib.fileio import check_writable  # noqa: E402
from resnet_model import DEPTHS as BLOCKS, TORCHVISION_ARCHS as ARCHS, ResNetModel  # noqa: E402


class ConversionError(ValueError):
    pass


def load_state_dict(path):
    """name -> tensor from a PyTorch file, unpickling nothing but tensors and plain containers;
    ConversionError naming the file for a damaged file, a non-tensor value or two names that
    become one once DataParallel's "module." prefix is dropped."""
    import pickle
    import torch
    try:
        sd = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        raise ConversionError('{}: refusing to unpickle anything but tensors ({})'.format(
            path, first_line(e))) from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError) as e:
        raise ConversionError('{}: not a readable PyTorch file ({}); is it damaged or cut short?'.format(
            path, first_line(e))) from None
    if isinstance(sd, dict) and isinstance(sd.get('state_dict'), dict):     # a training checkpoint
        sd = sd['state_dict']
    if not isinstance(sd, dict):
        raise ConversionError('{}: expected a state dict, got {}'.format(path, type(sd).__name__))
    out, prefix = {}, 'module.'                                              # saved from DataParallel
    for key, value in sd.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ConversionError('{}: {!r} holds {}, not a tensor'.format(path, key, type(value).__name__))
        name = key[len(prefix):] if key.startswith(prefix) else key
        if name in out:
            raise ConversionError('{}: both {!r} and {!r} are in it; they would be the same weight'.format(
                path, name, prefix + name))
        out[name] = value
    return out


def first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Converter:
    """Pops source tensors into TF-named numpy arrays."""

    def __init__(self, state_dict, path):
        self.src, self.path, self.out = state_dict, path, {}

    def pop(self, key):
        if key not in self.src:
            raise ConversionError('{}: missing {!r} (is --arch right?)'.format(self.path, key))
        return self.src.pop(key).detach().float().numpy()

    def conv(self, src, dst, bgr_input=False):
        w = self.pop(src + '.weight')
        if w.ndim != 4:
            raise ConversionError('{}: {}.weight has shape {}, expected a 4-D convolution'.format(
                self.path, src, w.shape))
        w = w.transpose(2, 3, 1, 0)                   # OIHW -> HWIO
        if bgr_input:
            w = w[:, :, ::-1, :]
        self.out[dst + '/W'] = np.ascontiguousarray(w)

    def bn(self, src, dst):
        for torch_name, tf_name in (('weight', 'gamma'), ('bias', 'beta'),
                                    ('running_mean', 'mean/EMA'), ('running_var', 'variance/EMA')):
            self.out['{}/bn/{}'.format(dst, tf_name)] = self.pop('{}.{}'.format(src, torch_name))
        self.src.pop(src + '.num_batches_tracked', None)   # a training counter; no TF counterpart

    def fc(self, src, dst):
        self.out[dst + '/W'] = np.ascontiguousarray(self.pop(src + '.weight').T)
        self.out[dst + '/b'] = self.pop(src + '.bias')


def convert(state_dict, depth, path='state dict'):
    """TF variable name -> array for a torchvision ResNet/ResNeXt of this depth. Consumes
    ``state_dict``: each tensor is freed as soon as it is converted, so memory stays near one
    copy of the model."""
    c = Converter(state_dict, path)
    c.conv('conv1', 'conv0', bgr_input=True)
    c.bn('bn1', 'conv0')
    convs = 3 if depth >= 50 else 2
    for g, blocks in enumerate(BLOCKS[depth]):
        for b in range(blocks):
            src, dst = 'layer{}.{}'.format(g + 1, b), 'group{}/block{}'.format(g, b)
            for j in range(1, convs + 1):
                c.conv('{}.conv{}'.format(src, j), '{}/conv{}'.format(dst, j))
                c.bn('{}.bn{}'.format(src, j), '{}/conv{}'.format(dst, j))
            if src + '.downsample.0.weight' in c.src:
                c.conv(src + '.downsample.0', dst + '/convshortcut')
                c.bn(src + '.downsample.1', dst + '/convshortcut')
    c.fc('fc', 'linear')
    if c.src:
        raise ConversionError('{}: {} key(s) left unconverted (another architecture?): {}'.format(
            path, len(c.src), ', '.join(sorted(c.src)[:10])))
    return c.out


def model_shapes(depth, mode, group_width, num_classes):
    """Variable name -> shape of our model, from its graph (nothing is allocated)."""
    import tensorflow as tf
    from tensorpack.tfutils.tower import TowerContext

    with tf.Graph().as_default(), TowerContext('', is_training=False):
        model = ResNetModel(depth, mode, num_classes=num_classes, group_width=group_width, data_format='NHWC')
        model.get_logits(tf.compat.v1.placeholder(tf.float32, [None, 224, 224, 3]))
        return {v.op.name: tuple(v.shape.as_list()) for v in model_variables()}


def check_shapes(weights, shapes, path):
    missing = sorted(set(shapes) - set(weights))
    extra = sorted(set(weights) - set(shapes))
    wrong = ['{}: {} converted, {} in the model'.format(k, weights[k].shape, shapes[k])
             for k in sorted(set(weights) & set(shapes)) if tuple(weights[k].shape) != shapes[k]]
    if missing or extra or wrong:
        raise ConversionError('{} does not match the model:\n  {}'.format(path, '\n  '.join(
            wrong + ['no value for ' + k for k in missing] + ['not in the model: ' + k for k in extra])))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', help='PyTorch state dict (.pth)')
    p.add_argument('output', help='.npz to write')
    p.add_argument('--arch', required=True, choices=sorted(ARCHS), help='the architecture of INPUT')
    args = p.parse_args(argv)
    depth, mode, group_width = ARCHS[args.arch]
    start = time.time()
    try:
        check_writable(args.output, 'OUTPUT')
        weights = convert(load_state_dict(args.input), depth, args.input)   # the loaded dict is consumed
        check_shapes(weights, model_shapes(depth, mode, group_width, len(weights['linear/b'])), args.input)
        write_npz(args.output, weights)
    except (ConversionError, InputError, OSError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    n = sum(v.size for v in weights.values() if not v.dtype == np.int64)
    print('Converted {} ({} arrays, {:,} values, {} classes) to {} in {:.1f} s; load it with '
          'imagenet-resnet.py -d {} --mode {}{} --load {}'.format(
              args.input, len(weights), n, len(weights['linear/b']), args.output, time.time() - start, depth, mode,
              ' --group-width {}'.format(group_width) if mode == 'resnext' else '', args.output))
    return 0


if __name__ == '__main__':
    sys.exit(main())
