"""The training recipe beyond the original's: its flags, their checks, and the options the model
and the callbacks take from them. The graph side lives in webvision.model.losses, webvision.model.mixing and webvision.train.ema."""
import dataclasses
import math

from webvision.core.constants import LOSSES, LR_SCHEDULES, MIX_MODES, TTA_MODES
from webvision.core.errors import FlagError
from webvision.data.lists import LIST_NAME

BOOTSTRAP_BETA = {False: 0.95, True: 0.8}       # Reed et al.'s soft and hard defaults


class RecipeError(FlagError):
    """A recipe flag out of range or combined with one it does not go with; the message names them."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What the model's training graph does beyond plain cross-entropy on one-hot labels."""
    label_smoothing: float = 0.
    mixup: float = 0.
    cutmix: float = 0.
    mix_prob: float = 1.
    mix_per_image: bool = False
    mix_until_step: int | None = None     # mixing stops at this global step (None: never)
    loss: str = 'ce'
    loss_options: dict = dataclasses.field(default_factory=dict)
    sample_loss: bool = False             # the model takes an index input and names each image's loss

    @property
    def mixing(self):
        return bool(self.mixup or self.cutmix)


def add_recipe_args(parser):
    """The training-recipe and evaluation flags, as two argument groups."""
    g = parser.add_argument_group('recipe (the original is: step schedule, cross-entropy, no mixing, no EMA)')
    g.add_argument('--lr-schedule', default='step', choices=LR_SCHEDULES, help='step: 10x drops at 30/60/90 of 110; '
                   'cosine: half a cosine from the peak to zero (after the same warm-up) (default: %(default)s)')
    g.add_argument('--label-smoothing', type=float, default=0., metavar='EPS', help='(1 - EPS) on the label, EPS '
                   'spread over all classes (default: %(default)s)')
    g.add_argument('--mixup', type=float, default=0., metavar='ALPHA', help='mixup with lam ~ Beta(ALPHA, ALPHA), '
                   'e.g. 0.2; 0 is off')
    g.add_argument('--cutmix', type=float, default=0., metavar='ALPHA', help='CutMix with lam ~ Beta(ALPHA, ALPHA), '
                   'e.g. 1.0; with --mixup each batch uses one of the two, at random')
    g.add_argument('--mix-prob', type=float, metavar='P', help='mix a batch (or image) with this probability (default 1)')
    g.add_argument('--mix-mode', choices=MIX_MODES, help='one lam per batch, or per image (elem) (default batch)')
    g.add_argument('--mix-off-epoch', type=int, metavar='E', help='mix only in epochs 1..E (timm\'s '
                   '--mixup-off-epoch): the last epochs see clean images')
    g.add_argument('--loss', default='ce', choices=LOSSES, help='ce: cross-entropy; gce: generalised cross-entropy; '
                   'sce: symmetric cross-entropy; bootstrap: soft or hard bootstrapping (default: %(default)s)')
    g.add_argument('--gce-q', type=float, metavar='Q', help='--loss gce: q in (0, 1] (default 0.7)')
    g.add_argument('--sce-alpha', type=float, metavar='A', help='--loss sce: weight of CE (default 0.1)')
    g.add_argument('--sce-beta', type=float, metavar='B', help='--loss sce: weight of reverse CE (default 1.0)')
    g.add_argument('--bootstrap-beta', type=float, metavar='B', help='--loss bootstrap: weight of the label '
                   '(default 0.95 soft, 0.8 hard)')
    g.add_argument('--bootstrap-hard', action='store_true', help='--loss bootstrap: the model\'s top class, not its '
                   'probabilities')
    g.add_argument('--ema', type=float, default=0., metavar='DECAY', help='keep a moving average of the weights and '
                   'batch-norm statistics (e.g. 0.9998), in the checkpoint; validation reports both (val-ema-*)')
    g.add_argument('--sample-loss', action='store_true', help='write the loss of every training image each epoch '
                   'to LOGDIR/sample_loss/epoch-N.npy (float16, one per line of the training list, NaN where '
                   'not seen), for utils/split_noisy.py')
    g.add_argument('--train-list', metavar='NAME', help='train on ROOT/meta/NAME.txt, e.g. the clean part '
                   'utils/split_noisy.py wrote')
    g = parser.add_argument_group('evaluation')
    g.add_argument('--tta', default='none', choices=TTA_MODES, help='--eval: average the probabilities of several '
                   'views: the image and its mirror (flip); four corners and centre and their mirrors (crops10); '
                   'centre crops with the shorter side at 224, 256, 288, 320 x size/224 (scales)')
    g.add_argument('--save-probs', metavar='PATH.npy', help='--eval: write the probabilities [images, classes] in '
                   'list order (float16; PATH.npy.json beside it says of what), for utils/ensemble.py')
    g.add_argument('--no-ema', action='store_true', help='--eval, --predict, --export: use the raw weights, not '
                   'the moving average a run with --ema saved')
    g.add_argument('--topk', type=int, default=5, metavar='N', help='--predict: print the N most probable classes '
                   '(default: %(default)s)')
    return g


def _check_range(name, value, lo, hi, lo_open=False, hi_open=False):
    if value is None:
        return
    below = value <= lo if lo_open else value < lo
    above = value >= hi if hi_open else value > hi
    if below or above or not math.isfinite(value):
        raise RecipeError('--{} must be in {}{}, {}{}, got {}'.format(
            name, '(' if lo_open else '[', lo, hi, ')' if hi_open else ']', value))


def _refuse_unused(args, owner, names):
    for name in names:
        if getattr(args, name.replace('-', '_')) not in (None, False):
            raise RecipeError('--{} only applies with {}'.format(name, owner))


def check_recipe(args):
    """RecipeError naming the flag when a recipe or evaluation flag is out of range or misplaced."""
    for name, lo, hi, lo_open, hi_open in (('label-smoothing', 0, 1, False, True), ('mixup', 0, 1e9, False, False),
                                           ('cutmix', 0, 1e9, False, False), ('mix-prob', 0, 1, False, False),
                                           ('gce-q', 0, 1, True, False), ('sce-alpha', 0, 1e9, False, False),
                                           ('sce-beta', 0, 1e9, False, False), ('bootstrap-beta', 0, 1, False, False),
                                           ('ema', 0, 1, False, True)):
        _check_range(name, getattr(args, name.replace('-', '_')), lo, hi, lo_open, hi_open)
    if not (args.mixup or args.cutmix):
        _refuse_unused(args, '--mixup or --cutmix', ('mix-prob', 'mix-mode', 'mix-off-epoch'))
    if args.mix_off_epoch is not None and args.mix_off_epoch < 1:
        raise RecipeError('--mix-off-epoch must be positive, got {}'.format(args.mix_off_epoch))
    for kind, names in (('gce', ('gce-q',)), ('sce', ('sce-alpha', 'sce-beta')),
                        ('bootstrap', ('bootstrap-beta', 'bootstrap-hard'))):
        if args.loss != kind:
            _refuse_unused(args, '--loss ' + kind, names)
    if args.loss == 'bootstrap' and args.label_smoothing:
        raise RecipeError('--loss bootstrap and --label-smoothing both move the target away from the label (to the '
                          'prediction, to uniform): use one of them')
    if args.train_list is not None and not LIST_NAME.match(args.train_list):
        raise RecipeError('--train-list {!r}: expected a list name such as train_clean (ROOT/meta/NAME.txt), '
                          'letters, digits, _ . -'.format(args.train_list))
    if args.eval or args.predict or args.export:
        _refuse_unused(args, 'training', ('mixup', 'cutmix', 'label-smoothing', 'ema', 'sample-loss', 'train-list'))
        for flag, value, default in (('loss', args.loss, 'ce'), ('lr-schedule', args.lr_schedule, 'step')):
            if value != default:
                raise RecipeError('--{} only applies with training'.format(flag))
    else:
        _refuse_unused(args, '--eval, --predict or --export', ('no-ema',))
    if not args.eval:
        _refuse_unused(args, '--eval', ('save-probs',))
        if args.tta != 'none':
            raise RecipeError('--tta only applies with --eval')
    if args.topk != 5 and not args.predict:
        raise RecipeError('--topk only applies with --predict')
    if args.topk < 1:
        raise RecipeError('--topk must be positive, got {}'.format(args.topk))
    if args.fake and args.sample_loss:
        raise RecipeError('--sample-loss needs a training list: it does not go with --fake')
    if args.train_list and (args.source != 'all' or args.format == 'lmdb'):
        raise RecipeError('--train-list names the list itself: it goes with neither --source nor --format lmdb')
    if args.save_probs is not None and not args.save_probs.endswith('.npy'):
        raise RecipeError('--save-probs {}: expected a file name ending in .npy'.format(args.save_probs))


def recipe_from_args(args, steps_per_epoch):
    """The model's Recipe from checked flags."""
    options = {'gce': lambda: dict(gce_q=args.gce_q if args.gce_q is not None else 0.7),
               'sce': lambda: dict(sce_alpha=1e-1 if args.sce_alpha is None else args.sce_alpha,
                                   sce_beta=1. if args.sce_beta is None else args.sce_beta),
               'bootstrap': lambda: dict(bootstrap_hard=args.bootstrap_hard, bootstrap_beta=(
                   BOOTSTRAP_BETA[args.bootstrap_hard] if args.bootstrap_beta is None else args.bootstrap_beta)),
               'ce': dict}[args.loss]()
    return Recipe(label_smoothing=args.label_smoothing, mixup=args.mixup, cutmix=args.cutmix,
                  mix_prob=1. if args.mix_prob is None else args.mix_prob, mix_per_image=args.mix_mode == 'elem',
                  mix_until_step=args.mix_off_epoch * steps_per_epoch if args.mix_off_epoch else None,
                  loss=args.loss, loss_options=options, sample_loss=args.sample_loss)
