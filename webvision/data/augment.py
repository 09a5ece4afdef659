"""The training augmentation's strengths: their flags, their checks. The loaders crop and flip
(webvision.data.decode.RandomCropDecoder); the graph jitters colour and lighting
(webvision.model.contract.batch_color_augment). The defaults are fb.resnet.torch's, as the original's."""
import math

from webvision.core.errors import FlagError


class AugmentError(FlagError):
    """An augmentation flag out of range; the message names it."""


def add_augment_args(parser):
    g = parser.add_argument_group('training augmentation (the defaults are fb.resnet.torch\'s)')
    g.add_argument('--crop-area', type=float, nargs=2, default=[0.08, 1.], metavar=('LO', 'HI'),
                   help='random-resized crop of LO..HI of the image\'s area, aspect 3/4..4/3 (default: 0.08 1)')
    g.add_argument('--hflip', type=float, default=0.5, metavar='P', help='flip horizontally with probability P '
                   '(default: %(default)s)')
    g.add_argument('--color-jitter', type=float, default=0.4, metavar='S', help='brightness, contrast and saturation '
                   'x U(1 - S, 1 + S), in random order per image; 0 is off (default: %(default)s)')
    g.add_argument('--lighting', type=float, default=0.1, metavar='S', help='AlexNet\'s PCA lighting noise, std S; '
                   '0 is off (default: %(default)s)')
    return g


def check_augment(args):
    lo, hi = args.crop_area
    if not (0 < lo <= hi <= 1):
        raise AugmentError('--crop-area {} {}: expected 0 < LO <= HI <= 1'.format(lo, hi))
    for name, value, top in (('hflip', args.hflip, 1), ('color-jitter', args.color_jitter, 1),
                             ('lighting', args.lighting, 10)):
        if not (math.isfinite(value) and 0 <= value <= top):
            raise AugmentError('--{} must be in [0, {}], got {}'.format(name, top, value))


def color_strengths(args):
    """(jitter, lighting) of the graph's colour augmentation."""
    return args.color_jitter, args.lighting
