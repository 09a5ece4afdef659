"""How the weights start and what pulls on them: the flags of initialisation and regularisation,
their checks, and the model options they give (webvision.model.resnet.ResNetModel's keywords).

The defaults are torchvision's initialisation (every gamma at 1, the classifier as nn.Linear), with
weight decay 1e-4 on convolution and classifier weights only. The original benchmark's (tensorpack's
ResNet example's) --zero-init-residual --head-init normal learnt slowly on schedules shorter than
ImageNet's: on 1,437 digits, 15 epochs at batch 32, ResNet-18 reached 15.8 % val error with them and
1.7 % without (bench/learning.py; bench/README.md), because the residual branches, starting at 0 and
with a learning rate of 0.0125, barely took part. configs/webvision2-r50-baseline.yaml keeps them.
"""
import argparse
import math

from webvision.core.errors import FlagError
from webvision.model.archs import HEAD_INITS


class InitError(FlagError):
    """An initialisation or regularisation flag out of range; the message names it."""


def add_init_args(parser):
    g = parser.add_argument_group('initialisation and regularisation (the original: --zero-init-residual '
                                  '--head-init normal; the defaults: torchvision\'s)')
    g.add_argument('--zero-init-residual', action=argparse.BooleanOptionalAction, default=False,
                   help='start the last batch-norm gamma of every residual block at 0, so that each block starts as '
                   'the identity (Goyal et al.) (default: %(default)s)')
    g.add_argument('--head-init', choices=HEAD_INITS, default='uniform', help='the classifier\'s initial weights: '
                   'normal, N(0, 0.01) with zero bias, as the original; uniform, PyTorch\'s nn.Linear default '
                   'U(+-1/sqrt(fan_in)) (default: %(default)s)')
    g.add_argument('--weight-decay', type=float, default=1e-4, help='L2 weight decay (default: %(default)s)')
    g.add_argument('--bn-weight-decay', action=argparse.BooleanOptionalAction, default=False,
                   help='decay the batch-norm gammas and betas and the classifier\'s bias too, as a PyTorch '
                   'optimiser over model.parameters() does (default: %(default)s)')
    g.add_argument('--bn-momentum', type=float, default=0.9, help='decay of batch-norm\'s moving mean and variance, '
                   'tensorpack\'s sense (PyTorch\'s momentum 0.1 is 0.9 here) (default: %(default)s)')
    return g


def check_init(args):
    if not (math.isfinite(args.weight_decay) and 0 <= args.weight_decay < 1):
        raise InitError('--weight-decay must be in [0, 1), got {}'.format(args.weight_decay))
    if not (math.isfinite(args.bn_momentum) and 0 < args.bn_momentum < 1):
        raise InitError('--bn-momentum must be in (0, 1), got {}'.format(args.bn_momentum))


def init_options(args):
    """ResNetModel's keywords from checked flags."""
    return dict(zero_init_residual=args.zero_init_residual, head_init=args.head_init, weight_decay=args.weight_decay,
                bn_weight_decay=args.bn_weight_decay, bn_momentum=args.bn_momentum)
