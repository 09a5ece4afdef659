#!/usr/bin/env python3
"""Converts a torchvision-style ResNet / ResNeXt (torchvision, timm, facebookresearch/WSL-Images'
ResNeXt-101 32x8d..32x48d) into the .npz that ``imagenet-resnet.py --load`` reads.

  webvision-convert IN OUT.npz [--arch resnext101_32x8d]      (or: python3 utils/convert_torch.py ...)

IN is a .pth state dict, a training checkpoint (.pth.tar, .ckpt) holding one under "state_dict" or
"model" (timm's CheckpointSaver files too, with their args, optimizer and "state_dict_ema": --ema
takes the average), or a .safetensors file (timm's and the Hugging Face hub's format, read without
pickle at all). Names saved from DataParallel ("module.") are accepted. Without --arch the architecture is
found from the tensors' names and shapes.

The .npz records how the model expects its images (webvision/data/transform.py): by default torchvision's
evaluation transform, Resize(256) with Pillow's bilinear filter and CenterCrop(224), with which
torchvision, timm and the WSL models were measured; --eval --predict and --finetune's validation use
it. For a timm model with another pretrained_cfg, pass its values: crop_pct 0.95 and bicubic at 224 is
--resize 235 --interpolation bicubic (floor(224 / 0.95)).

What differs between the frameworks and is handled here or by the model:
- layout: PyTorch convolutions are OIHW, TensorFlow's HWIO; fully-connected weights are transposed;
- colour order: torchvision models take RGB, ours BGR (OpenCV), so the first convolution's input
  channels are reversed; the normalisation (ImageNet mean and std) is the same;
- batch norm: both use epsilon 1e-5; running statistics become the .../EMA variables;
- padding: PyTorch pads strided convolutions and the stem max-pool symmetrically, TensorFlow's
  SAME asymmetrically; webvision/model/resnet.py pads explicitly like PyTorch, so outputs agree.

Every source key is popped; the conversion fails naming any key left unconverted or any variable
of the model left without a value, and checks every shape against the model's graph. A .pth is
read with torch.load(weights_only=True): nothing but tensors is unpickled. Each tensor is freed
once converted (bench/convert_wsl.py measures the peak memory).
"""
import argparse
import dataclasses
import os
import re
import sys
import time

import numpy as np

from webvision.core.errors import InputError
from webvision.core.fileio import check_input, check_output
from webvision.data import hub, transform as tr
from webvision.model.archs import BOTTLENECK_DEPTHS, CARDINALITY, DEPTHS as BLOCKS, TORCHVISION_ARCHS as ARCHS


class ConversionError(ValueError):
    pass


WRAPPERS = ('state_dict', 'model')       # training checkpoints: torchvision's references, timm, Lightning
EMA_WRAPPERS = ('state_dict_ema', 'model_ema')      # their weight averages: timm's CheckpointSaver, torchvision's


def load_state_dict(path, ema=False):
    """name -> tensor from a PyTorch or safetensors file, unpickling nothing but tensors, plain
    containers and argparse.Namespace (timm's checkpoints keep their args in one); with ``ema`` a
    training checkpoint's weight average. ConversionError naming the file for a damaged file, a
    non-tensor value or two names that become one once DataParallel's "module." prefix is dropped."""
    import torch
    check_input(path)         # a folder, FIFO or device named as such, before anything opens it
    sd = read_safetensors(path) if path.endswith('.safetensors') else read_pickled(path)
    sd = unwrap(sd, path, ema)
    if not isinstance(sd, dict):
        raise ConversionError('{}: expected a state dict, got {}'.format(path, type(sd).__name__))
    out, prefix = {}, 'module.'                                              # saved from DataParallel
    for key, value in sd.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ConversionError('{}: {!r} holds {}, not a tensor (a checkpoint keeps its weights under {})'.format(
                path, key, type(value).__name__, ' or '.join(map(repr, WRAPPERS))))
        name = key[len(prefix):] if key.startswith(prefix) else key
        if name in out:
            raise ConversionError('{}: both {!r} and {!r} are in it; they would be the same weight'.format(
                path, name, prefix + name))
        out[name] = value
    return out


def unwrap(sd, path, ema):
    """The state dict inside a training checkpoint: its model's, or with ``ema`` its average's."""
    if not isinstance(sd, dict):
        return sd
    if ema:
        found = next((k for k in EMA_WRAPPERS if isinstance(sd.get(k), dict)), None)
        if found is None:
            raise ConversionError('{}: --ema, but no weight average in it (no {}; it holds {})'.format(
                path, ' or '.join(map(repr, EMA_WRAPPERS)), ', '.join(sorted(map(str, sd))[:12])))
        return sd[found]
    return next((sd[k] for k in WRAPPERS if isinstance(sd.get(k), dict)), sd)


def read_pickled(path):
    import argparse
    import pickle
    import torch
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):       # plain data, as timm allows it
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        blocking = blocking_globals(path)
        if not blocking:
            raise ConversionError('{}: not a PyTorch weights file ({})'.format(path, unpickler_reason(e))) from None
        raise ConversionError('{}: refusing to unpickle {}: only tensors, plain containers and argparse.Namespace '
                              'are read, nothing is executed'.format(path, blocking)) from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError) as e:
        raise ConversionError('{}: not a readable PyTorch file ({}); is it damaged or cut short?'.format(
            path, first_line(e))) from None


def read_safetensors(path):
    from safetensors import safe_open
    try:
        with safe_open(path, framework='pt') as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001  (safetensors raises its own error type for a bad header)
        raise ConversionError('{}: not a readable safetensors file ({}); is it damaged or cut short?'.format(
            path, first_line(e))) from None


def layout(sd):
    """(blocks per stage, bottleneck, (out, in) channels of layer1.0.conv2 or None) of a state dict."""
    blocks = []
    for g in range(1, 5):
        found = {int(m.group(1)) for m in (re.match(r'layer{}\.(\d+)\.'.format(g), k) for k in sd) if m}
        blocks.append(max(found) + 1 if found else 0)
    conv2 = sd.get('layer1.0.conv2.weight')
    shape = tuple(conv2.shape[:2]) if conv2 is not None and conv2.ndim == 4 else None
    return tuple(blocks), 'layer1.0.conv3.weight' in sd, shape


def expected_layout(arch):
    depth, mode, group_width = ARCHS[arch]
    conv2 = (CARDINALITY * group_width, group_width) if mode == 'resnext' else (64, 64)
    return tuple(BLOCKS[depth]), depth in BOTTLENECK_DEPTHS, conv2


def infer_arch(sd, path):
    """The architecture (ARCHS) whose layout the state dict has; ConversionError listing the
    candidates when several fit, or the supported ones when none does."""
    blocks, bottleneck, conv2 = layout(sd)
    fits = [a for a in sorted(ARCHS) if expected_layout(a)[:2] == (blocks, bottleneck)
            and (conv2 is None or expected_layout(a)[2] == conv2)]
    if len(fits) == 1:
        return fits[0]
    found = 'blocks per stage {}, {}, layer1.0.conv2 {}'.format(
        '-'.join(map(str, blocks)), 'bottleneck' if bottleneck else 'basic blocks',
        'x'.join(map(str, conv2)) if conv2 else 'absent')
    if fits:
        raise ConversionError('{}: could be {} ({}); pass --arch'.format(path, ' or '.join(fits), found))
    raise ConversionError('{}: not a supported architecture ({}); supported: {}'.format(
        path, found, ', '.join(sorted(ARCHS))))


def first_line(error):
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(error)).strip()     # torch's messages carry terminal colours
    return text.splitlines()[0] if text else type(error).__name__


def blocking_globals(path):
    """What a weights-only load refused, named in plain text (the classes or functions it would call);
    '' when it names none (not a pickle at all, or one too damaged to list)."""
    import torch
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:   # noqa: BLE001  (an old or damaged archive, or no pickle: the unpickler's reason says)
        names = []
    return ', '.join(n for n in names if n != 'argparse.Namespace')


def unpickler_reason(error):
    """The unpickler's own reason inside torch's long weights-only message ("Unsupported operand 255"
    for a JPEG), else its first line."""
    m = re.search(r'WeightsUnpickler error:\s*(.+?)\s*(?:\n\s*\n|$)', str(error), re.S)
    return ' '.join(m.group(1).split()) if m else first_line(error)


class Converter:
    """Pops source tensors into TF-named numpy arrays."""

    def __init__(self, state_dict, path):
        self.src, self.path, self.out = state_dict, path, {}

    def pop(self, key):
        if key not in self.src:
            raise ConversionError('{}: missing {!r} (is --arch right?)'.format(self.path, key))
        v = self.src.pop(key)
        return v.astype(np.float32, copy=False) if isinstance(v, np.ndarray) else v.detach().float().numpy()

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
    from webvision.core.process import configure_tensorflow
    configure_tensorflow()      # TensorFlow loads here, not for --help or a bad INPUT
    import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow: legacy Keras, or tensorpack fails)
    import tensorflow as tf
    from tensorpack.tfutils.tower import TowerContext
    from webvision.model.resnet import ResNetModel
    from webvision.weights.checkpoints import model_variables

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


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', help='PyTorch state dict or checkpoint (.pth, .pth.tar, .ckpt), .safetensors, or a '
                   'Hugging Face hub model folder (model.safetensors + config.json)')
    p.add_argument('output', help='.npz to write')
    p.add_argument('--arch', choices=sorted(ARCHS), help='the architecture of INPUT (default: found from its '
                   'tensors\' names and shapes)')
    p.add_argument('--ema', action='store_true', help='a training checkpoint\'s weight average (timm\'s '
                   'state_dict_ema, torchvision\'s model_ema) instead of its model\'s state_dict')
    g = p.add_argument_group('evaluation transform recorded in OUTPUT (see webvision/data/transform.py)')
    g.add_argument('--eval-transform', default='torchvision', choices=tr.KINDS, help='torchvision: Resize of the '
                   'shorter side with Pillow, then CenterCrop, as the weights were measured; toolkit: this '
                   'toolkit\'s crop (default: %(default)s)')
    g.add_argument('--resize', type=int, help='shorter side before the crop (default: from the pretrained_cfg '
                   'of a config.json beside INPUT, as timm computes it, floor(size / crop_pct); else {})'.format(
                       tr.TORCHVISION.resize))
    g.add_argument('--crop', type=int, help='(default: that config\'s input size, else {})'.format(tr.TORCHVISION.crop))
    g.add_argument('--interpolation', choices=tr.INTERPOLATIONS, help='(default: that config\'s, else {})'.format(
        tr.TORCHVISION.interpolation))
    g.add_argument('--test-size', action='store_true', help='with a config.json: its test_input_size and '
                   'test_crop_pct (timm\'s larger evaluation size) instead of input_size and crop_pct')
    return p


def resolve_transform(args, weights):
    """(the Transform to record, the config.json it came from or None): the flags given, else the
    pretrained_cfg of a hub config.json beside the weights, else torchvision's standard one."""
    config = hub.config_beside(weights) if args.eval_transform == 'torchvision' else None
    if args.test_size and not config:
        raise ConversionError('--test-size needs a config.json beside {} (a hub folder\'s)'.format(weights))
    base = hub.transform(config, args.test_size) if config else tr.TORCHVISION
    given = {k: getattr(args, k) for k in ('resize', 'crop', 'interpolation') if getattr(args, k) is not None}
    t = dataclasses.replace(base, kind=args.eval_transform, **given)
    tr.check(t, '--resize/--crop' if given else config or 'the default transform')
    return t, config


def main(argv=None):
    p = get_args_parser()
    args = p.parse_args(argv)
    start = time.time()
    try:
        path = hub.weights_in(args.input) if os.path.isdir(args.input) else args.input
        transform, config = resolve_transform(args, path)
        check_output(args.output, 'OUTPUT', [('INPUT', path)] + ([('its config', config)] if config else []))
        state_dict = load_state_dict(path, ema=args.ema)
        arch = args.arch or infer_arch(state_dict, path)
        depth, mode, group_width = ARCHS[arch]
        weights = convert(state_dict, depth, path)   # the loaded dict is consumed
        check_shapes(weights, model_shapes(depth, mode, group_width, len(weights['linear/b'])), path)
        from webvision.weights.checkpoints import write_npz
        write_npz(args.output, dict(weights, **tr.npz_entry(transform)))
    except (ConversionError, InputError, OSError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    n = sum(v.size for v in weights.values())
    print('Converted {} ({}{}, {} arrays, {:,} values, {} classes) to {} in {:.1f} s; evaluation transform{}: {}. '
          'Load it with imagenet-resnet.py -d {} --mode {}{} --load {}'.format(
              path, arch, '' if args.arch else ', found from its shapes', len(weights), n,
              len(weights['linear/b']), args.output, time.time() - start,
              ' (from {})'.format(config) if config else '', transform.describe(), depth, mode,
              ' --group-width {}'.format(group_width) if mode == 'resnext' else '', args.output))
    return 0


if __name__ == '__main__':
    sys.exit(main())
