# -*- coding: utf-8 -*-
# File: webvision/model/resnet.py (the original benchmark's resnet_model.py)
"""ResNet-18..152, pre-activation ResNet, SE-ResNet and ResNeXt (32x4d .. 32x48d).

Layer names follow tensorpack's ResNet example (conv0, group0/block0/conv1, ..., linear): they are
the checkpoint format, so they must not change. Strided convolutions and the stem max-pool pad
explicitly and symmetrically, as PyTorch does, instead of TensorFlow's asymmetric SAME padding:
weights converted from torchvision then give the same outputs. ``padding='same'`` (--padding same)
builds the original benchmark's graph instead, for its published checkpoints.
"""
import contextlib
import functools

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorpack.models import BatchNorm, BNReLU, Conv2D, FullyConnected, GlobalAvgPooling, MaxPooling
from tensorpack.tfutils.argscope import argscope, get_arg_scope

from webvision.model.archs import (BOTTLENECK_DEPTHS, CARDINALITY, DEPTHS, GROUP_WIDTHS, HEAD_INITS,  # noqa: F401
                                   MODES, PADDINGS, TORCHVISION_ARCHS)
from webvision.model.contract import ImageNetModel


def _channel_axis():
    fmt = get_arg_scope()['Conv2D']['data_format']
    return 1 if fmt in ('NCHW', 'channels_first') else 3


def _pad_spatial(l, pad, value=0., after=None):
    """``pad`` pixels before each spatial axis, and as many after unless ``after`` says."""
    paddings = [[0, 0], [0, 0], [0, 0], [0, 0]]
    for ax in ((2, 3) if _channel_axis() == 1 else (1, 2)):
        paddings[ax] = [pad, pad if after is None else after]
    return tf.pad(l, paddings, constant_values=value)


# Set by ResNetModel.get_logits for the graph it builds: the padding of strided layers, and the
# initialisation of residual blocks' last batch-norm and of the classifier.
_options = [dict(padding='symmetric', zero_init_residual=False, head_init='uniform')]


@contextlib.contextmanager
def build_options(padding='symmetric', zero_init_residual=False, head_init='uniform'):
    """padding symmetric: strided convolutions and the stem max-pool pad kernel // 2 on every side,
    as PyTorch does (weights converted from torchvision give its outputs); same: TensorFlow's SAME,
    which puts the odd pixel of padding after, as the original benchmark's graph did (its
    checkpoints need it); caffe: symmetric convolutions, the stem max-pool as Caffe's (pad 0,
    output size rounded up: its windows one pixel off PyTorch's). zero_init_residual: the last
    batch-norm gamma of every residual block
    starts at 0, as the original (otherwise at 1, as torchvision's). head_init normal: the
    classifier's weights from N(0, 0.01) and zero bias, as the original; uniform: PyTorch's
    nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both (webvision.model.init says why
    these are the defaults)."""
    if padding not in PADDINGS:
        raise ValueError('padding {!r} is not one of {}'.format(padding, ', '.join(PADDINGS)))
    if head_init not in HEAD_INITS:
        raise ValueError('head init {!r} is not one of {}'.format(head_init, ', '.join(HEAD_INITS)))
    _options.append(dict(padding=padding, zero_init_residual=zero_init_residual, head_init=head_init))
    try:
        yield
    finally:
        _options.pop()


def _option(name):
    return _options[-1][name]


def conv(name, l, ch_out, kernel, stride=1, **kwargs):
    """Conv2D whose strided version pads as build_options says."""
    if stride > 1 and kernel > 1 and _option('padding') != 'same':
        l = _pad_spatial(l, kernel // 2)
        return Conv2D(name, l, ch_out, kernel, strides=stride, padding='VALID', **kwargs)
    return Conv2D(name, l, ch_out, kernel, strides=stride, **kwargs)


def stem_pool(l):
    if _option('padding') == 'same':
        return MaxPooling('pool0', l, 3, strides=2, padding='SAME')
    if _option('padding') == 'caffe':
        # Caffe's ceil((n - 3) / 2) + 1 windows from pixel 0: one column of padding after is that
        # count for odd and even n alike, and never a window of padding alone.
        return MaxPooling('pool0', _pad_spatial(l, 0, after=1), 3, strides=2, padding='VALID')
    # After ReLU every value is >= 0, so zero padding equals PyTorch's -inf padding here.
    return MaxPooling('pool0', _pad_spatial(l, 1), 3, strides=2, padding='VALID')


def get_bn(zero_init=False):
    """Zero-initialised gamma on a block's last BN makes each block start as identity (Goyal et
    al., https://arxiv.org/abs/1706.02677), when build_options says so (the original's choice)."""
    if zero_init and _option('zero_init_residual'):
        return lambda x, name=None: BatchNorm('bn', x, gamma_initializer=tf.zeros_initializer())
    return lambda x, name=None: BatchNorm('bn', x)


def resnet_shortcut(l, n_out, stride, activation=tf.identity):
    n_in = l.get_shape().as_list()[_channel_axis()]
    if n_in != n_out or stride != 1:
        return Conv2D('convshortcut', l, n_out, 1, strides=stride, activation=activation)
    return l


def resnet_basicblock(l, ch_out, stride):
    shortcut = l
    l = conv('conv1', l, ch_out, 3, stride, activation=BNReLU)
    l = conv('conv2', l, ch_out, 3, activation=get_bn(zero_init=True))
    return l + resnet_shortcut(shortcut, ch_out, stride, activation=get_bn())


def resnet_bottleneck(l, ch_out, stride, width=None):
    """Stride on the 3x3 convolution (ResNet v1.5, as fb.resnet.torch and torchvision)."""
    width = width or ch_out
    shortcut = l
    l = conv('conv1', l, width, 1, activation=BNReLU)
    l = conv('conv2', l, width, 3, stride, activation=BNReLU, split=CARDINALITY if width != ch_out else 1)
    l = conv('conv3', l, ch_out * 4, 1, activation=get_bn(zero_init=True))
    return l + resnet_shortcut(shortcut, ch_out * 4, stride, activation=get_bn())


def resnext_bottleneck(l, ch_out, stride, group_width):
    # torchvision: width = planes * base_width / 64 * groups
    return resnet_bottleneck(l, ch_out, stride, width=ch_out * group_width // 64 * CARDINALITY)


def _squeeze_excite(l, ch_reduced):
    ch = l.get_shape().as_list()[_channel_axis()]
    squeeze = GlobalAvgPooling('gap', l)
    squeeze = FullyConnected('fc1', squeeze, ch_reduced, activation=tf.nn.relu)
    squeeze = FullyConnected('fc2', squeeze, ch, activation=tf.nn.sigmoid)
    shape = [-1, 1, 1, 1]
    shape[_channel_axis()] = ch
    return l * tf.reshape(squeeze, shape)


def se_basicblock(l, ch_out, stride):
    shortcut = l
    l = conv('conv1', l, ch_out, 3, stride, activation=BNReLU)
    l = conv('conv2', l, ch_out, 3, activation=get_bn(zero_init=True))
    l = _squeeze_excite(l, ch_out // 16)
    return l + resnet_shortcut(shortcut, ch_out, stride, activation=get_bn())


def se_bottleneck(l, ch_out, stride):
    shortcut = l
    l = conv('conv1', l, ch_out, 1, activation=BNReLU)
    l = conv('conv2', l, ch_out, 3, stride, activation=BNReLU)
    l = conv('conv3', l, ch_out * 4, 1, activation=get_bn(zero_init=True))
    l = _squeeze_excite(l, ch_out // 4)
    return l + resnet_shortcut(shortcut, ch_out * 4, stride, activation=get_bn())


def resnet_group(l, name, block_func, features, count, stride):
    with tf.compat.v1.variable_scope(name):
        for i in range(count):
            with tf.compat.v1.variable_scope('block{}'.format(i)):
                l = tf.nn.relu(block_func(l, features, stride if i == 0 else 1))
    return l


def _preactivate(l, preact):
    # The first block of a group sees an input that is already BN-ReLU'd.
    return BNReLU('preact', l) if preact else l


def preact_basicblock(l, ch_out, stride, preact):
    shortcut = l
    l = _preactivate(l, preact)
    l = conv('conv1', l, ch_out, 3, stride, activation=BNReLU)
    l = conv('conv2', l, ch_out, 3)
    return l + resnet_shortcut(shortcut, ch_out, stride)


def preact_bottleneck(l, ch_out, stride, preact):
    shortcut = l
    l = _preactivate(l, preact)
    l = conv('conv1', l, ch_out, 1, activation=BNReLU)
    l = conv('conv2', l, ch_out, 3, stride, activation=BNReLU)
    l = conv('conv3', l, ch_out * 4, 1)
    return l + resnet_shortcut(shortcut, ch_out * 4, stride)


def preact_group(l, name, block_func, features, count, stride):
    with tf.compat.v1.variable_scope(name):
        for i in range(count):
            with tf.compat.v1.variable_scope('block{}'.format(i)):
                l = block_func(l, features, stride if i == 0 else 1, preact=i > 0)
        l = BNReLU('bnlast', l)
    return l


def resnet_backbone(image, num_blocks, group_func, block_func, num_classes):
    with argscope(Conv2D, use_bias=False,
                  kernel_initializer=tf.compat.v1.variance_scaling_initializer(scale=2.0, mode='fan_out')):
        l = stem_pool(conv('conv0', image, 64, 7, stride=2, activation=BNReLU))
        for i, (features, stride) in enumerate(zip((64, 128, 256, 512), (1, 2, 2, 2))):
            l = group_func(l, 'group{}'.format(i), block_func, features, num_blocks[i], stride)
        return classifier(GlobalAvgPooling('gap', l), num_classes)


def classifier(features, num_classes):
    if _option('head_init') == 'normal':
        return FullyConnected('linear', features, num_classes,
                              kernel_initializer=tf.compat.v1.random_normal_initializer(stddev=0.01))
    bound = features.get_shape().as_list()[-1] ** -0.5
    return FullyConnected('linear', features, num_classes,
                          kernel_initializer=tf.compat.v1.random_uniform_initializer(-bound, bound),
                          bias_initializer=tf.compat.v1.random_uniform_initializer(-bound, bound))


def get_block_func(depth, mode, group_width=4):
    """Returns (group function, block function) for a variant; errors list the valid choices."""
    if depth not in DEPTHS:
        raise ValueError('depth {} is not one of {}'.format(depth, sorted(DEPTHS)))
    if mode not in MODES:
        raise ValueError('mode {!r} is not one of {}'.format(mode, ', '.join(MODES)))
    bottleneck = depth in BOTTLENECK_DEPTHS
    if mode == 'resnext':
        if not bottleneck:
            raise ValueError('ResNeXt needs a bottleneck depth, one of {}; got {}'.format(
                BOTTLENECK_DEPTHS, depth))
        if group_width not in GROUP_WIDTHS:
            raise ValueError('group width {} is not one of {}'.format(group_width, GROUP_WIDTHS))
        return resnet_group, functools.partial(resnext_bottleneck, group_width=group_width)
    blocks = {
        'resnet': (resnet_basicblock, resnet_bottleneck),
        'preact': (preact_basicblock, preact_bottleneck),
        'se': (se_basicblock, se_bottleneck)}[mode]
    return (preact_group if mode == 'preact' else resnet_group), blocks[bottleneck]


def variant_name(depth, mode, group_width=4):
    if mode == 'resnext':
        return 'resnext{}_{}x{}d'.format(depth, CARDINALITY, group_width)
    return {'resnet': 'resnet{}', 'preact': 'preact-resnet{}', 'se': 'se-resnet{}'}[mode].format(depth)


class ResNetModel(ImageNetModel):
    """Options of the graph (build_options): ``padding``, ``zero_init_residual``, ``head_init``;
    ``bn_momentum``, the decay of batch-norm's moving statistics (tensorpack's sense: PyTorch's
    momentum 0.1 is 0.9 here)."""

    def __init__(self, depth, mode='resnet', num_classes=1000, group_width=4, padding='symmetric', *,
                 zero_init_residual=False, head_init='uniform', bn_momentum=0.9, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.depth, self.mode, self.group_width = depth, mode, group_width
        self.group_func, self.block_func = get_block_func(depth, mode, group_width)
        self.options = dict(padding=padding, zero_init_residual=zero_init_residual, head_init=head_init)
        with build_options(**self.options):
            pass                    # refuses unknown values now rather than when the graph is built
        if not 0 < bn_momentum < 1:
            raise ValueError('batch-norm momentum must be in (0, 1), got {}'.format(bn_momentum))
        self.padding, self.bn_momentum = padding, bn_momentum

    def get_logits(self, image):
        with argscope([Conv2D, MaxPooling, GlobalAvgPooling, BatchNorm], data_format=self.data_format), \
                argscope(BatchNorm, momentum=self.bn_momentum), build_options(**self.options):
            return resnet_backbone(image, DEPTHS[self.depth], self.group_func, self.block_func,
                                   self.num_classes)
