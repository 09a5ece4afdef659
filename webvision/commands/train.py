# File: webvision/commands/train.py (the original benchmark's imagenet-resnet.py)
"""Train and evaluate ResNet / ResNeXt classifiers on WebVision (or any root in the same layout).

  train:      imagenet-resnet.py --data ROOT --gpu 0,1,2,3 -d 50 --mode resnet
  evaluate:   imagenet-resnet.py --data ROOT -d 50 --mode resnet --eval --load train_log/RUN/model-N
  benchmark:  imagenet-resnet.py --fake -d 50 --batch 32 --steps-per-epoch 20 --epochs 1

Without --data the embedded demo set is used (built on first use from photos that
scikit-image and scikit-learn ship). Rerunning a training command resumes from the newest
checkpoint in its --logdir. (webvision-train is this command; webvision-eval is it with --eval.)
"""
import argparse
import os
import sys
import traceback

# Only TensorFlow-free modules here: --help and every flag check answer before TensorFlow loads.
from webvision.core import config
from webvision.core.constants import IMAGES_PER_EPOCH, SOURCES
from webvision.core.errors import FlagError, InputError
from webvision.core.fileio import check_folder_output
from webvision.core.process import configure_tensorflow, exit_process
from webvision.data.augment import add_augment_args, check_augment
from webvision.data.bad_images import add_bad_input_args
from webvision.data.lists import count_images, list_path
from webvision.data.transform import add_transform_arg, choose as choose_transform
from webvision.model.archs import DEPTHS, GROUP_WIDTHS, MODES, PADDINGS
from webvision.model.init import add_init_args, check_init
from webvision.model.recipe import add_recipe_args, check_recipe
from webvision.train.cluster import Cluster, ClusterError, add_cluster_args


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    config.add_config_arg(p.add_argument_group('settings file'))
    add_task_and_data_args(p)
    add_model_and_schedule_args(p)
    add_init_args(p)
    add_augment_args(p)
    add_weights_and_device_args(p)
    add_cluster_args(p)
    add_transform_arg(add_recipe_args(p))
    g = add_bad_input_args(p)
    g.add_argument('--debug', action='store_true', help='print the traceback of an error about the input too')
    return p


def add_task_and_data_args(p):
    g = p.add_argument_group('what to do (default: train)')
    g.add_argument('--eval', action='store_true', help='evaluate --load on every image of DIR/meta/val.txt')
    g.add_argument('--predict', nargs='+', metavar='IMAGE', help='print the top classes (--topk) of each image for '
        '--load; names from --data\'s meta (default: the demo set, if built), or ImageNet\'s for a 1,000-class model')
    g.add_argument('--export', metavar='DIR', help='write --load as DIR/saved_model (TensorFlow SavedModel, signature '
        'serving_default) and DIR/model.onnx: uint8 BGR images [N, size, size, 3] in, class probabilities out '
        '(weights beyond 2 GB: as variables, and in DIR/model.onnx-TOKEN.data beside the ONNX model)')
    g.add_argument('--fake', action='store_true', help='train on random uint8 batches and print images/s: the '
        'speed of the compute alone')
    g = p.add_argument_group('data')
    g.add_argument('--data', metavar='DIR', help='prepared dataset root (meta/synsets.txt, meta/train.txt, train/, '
        'meta/val.txt, val/). Default: the embedded demo set, built on first use')
    g.add_argument('--source', default='all', choices=SOURCES, help='which crawl to train on: meta/train.txt (all) '
        'or meta/train_google.txt / train_flickr.txt as utils/preprocess.py writes them (default: %(default)s)')
    g.add_argument('--balance', action='store_true', help='draw training classes uniformly, as the published models '
        'trained (by duplicating list lines up to the largest class), instead of in proportion to their images; an '
        'epoch is still --epoch-images draws')
    g.add_argument('--format', default='files', choices=('files', 'lmdb'), help='read images from the files in the '
        'lists, or from DIR/lmdb/<list>.lmdb written by utils/pack_lmdb.py: one sequential file per split, '
        'shuffled locally (default: %(default)s)')
    g.add_argument('--image-size', type=int, help='crop size, the model\'s input (default: the crop recorded with '
        'the weights of --load, as webvision-convert --test-size records timm\'s test size; else 224)')
    g.add_argument('--workers', type=int, help='loader processes (default: the number of CPU cores)')


def add_model_and_schedule_args(p):
    g = p.add_argument_group('model')
    g.add_argument('-d', '--depth', type=int, default=50, choices=sorted(DEPTHS), help='ResNet depth (default: %(default)s)')
    g.add_argument('--mode', default='resnet', choices=MODES, help='variant (default: %(default)s); resnext needs '
        '-d 50, 101 or 152')
    g.add_argument('--group-width', type=int, default=4, choices=GROUP_WIDTHS, help='ResNeXt width per group, '
        'cardinality 32: 4 is 32x4d, 8..48 the WSL 32x8d..32x48d models (default: %(default)s)')
    g.add_argument('--data-format', choices=('NCHW', 'NHWC'), help='default: NCHW on GPUs, NHWC on the CPU')
    g.add_argument('--padding', choices=PADDINGS, help='of strided convolutions and the stem max-pool: symmetric '
        'as PyTorch (converted weights need it), or same: TensorFlow\'s SAME, as the original benchmark\'s graph, '
        'for its published checkpoints (model-520000, model-1055000), or caffe: the stem max-pool as Caffe\'s '
        '(webvision-convert-caffe records it); recorded with the run. Default: that of the weights loaded '
        '(their run\'s config.yaml; same for a tensorpack checkpoint that no run of this toolkit wrote), '
        'else symmetric')
    g = p.add_argument_group('training schedule')
    g.add_argument('--batch', type=int, default=256, help='batch size of this process, split evenly across its towers; '
        'with --hosts the global batch is this x the number of workers (default: %(default)s)')
    g.add_argument('--lr', type=float, help='peak learning rate (default: 0.1 x the global batch / 256)')
    g.add_argument('--warmup-epochs', type=float, default=3, help='a linear warm-up from --warmup-lr to the peak over '
        'these epochs (default: %(default)s)')
    g.add_argument('--warmup-lr', type=float, default=0., help='where the warm-up starts; none when it is not below '
        'the peak (the original: 0.1, i.e. a warm-up only for a peak above 0.1) (default: %(default)s)')
    g.add_argument('--epochs', type=int, default=110, help='epochs to train; with --lr-schedule step the learning '
        'rate drops 10x at 30/110, 60/110 and 90/110 of them, as in the original (default: %(default)s)')
    g.add_argument('--epoch-images', type=int, metavar='N', help='images per epoch (default: one pass over the '
        'training list; the original: {:,}, ImageNet\'s, whatever the list)'.format(IMAGES_PER_EPOCH))
    g.add_argument('--steps-per-epoch', type=int, help='default: --epoch-images / the global batch')
    g.add_argument('--no-val', action='store_true', help='skip validation at the end of each epoch')


def add_weights_and_device_args(p):
    g = p.add_argument_group('weights and checkpoints')
    g.add_argument('--logdir', help='checkpoints and logs; default train_log/<mode>-d<depth>-<dataset name>. '
        'An existing run there is resumed')
    g.add_argument('--load', metavar='CKPT', help='initialise from a checkpoint (model-N or its .index) or .npz; '
        'variables whose shape differs (another class count) are skipped and listed. With --eval: '
        'the model to evaluate')
    g.add_argument('--finetune', action='store_true', help='with --load: start a new run from pretrained weights '
        '(e.g. converted WSL ResNeXt) with their classifier head dropped and a fresh one for this data\'s classes')
    g.add_argument('--trunk-lr-mult', type=float, default=1., help='learning-rate multiplier for everything but the '
        'head, e.g. 0.1 when fine-tuning (default: %(default)s)')
    g.add_argument('--keep', type=int, default=5, help='checkpoints to keep (default: %(default)s)')
    g.add_argument('--predictions', metavar='PATH', help='with --eval: where to write the predictions JSON '
        '(default: beside the checkpoint)')
    g = p.add_argument_group('devices and speed')
    g.add_argument('--gpu', metavar='IDS', help='comma-separated GPU ids, one tower each, trained synchronously '
        '(replicated). Omit to train on the CPU')
    g.add_argument('--threads', type=int, help='CPU threads for TensorFlow ops (default: all cores)')
    g.add_argument('--amp', action='store_true', help='mixed precision: float16 with loss scaling on GPUs, bfloat16 on CPUs '
        '(oneDNN; pays off with AMX: on a CPU with AVX512_BF16 but no AMX, ResNet-50 inference ran at half '
        'the float32 speed); variables stay float32')
    g.add_argument('--xla', action='store_true', help='compile the graph with XLA (auto-clustering)')


class UsageError(Exception):
    pass


def parse_gpus(spec):
    if not spec:
        return []
    try:
        gpus = [int(g) for g in spec.split(',') if g.strip() != '']
    except ValueError:
        raise UsageError('--gpu {!r}: expected comma-separated integers such as 0,1,2,3'.format(spec)) from None
    if not gpus:
        raise UsageError('--gpu {!r}: no GPU id given'.format(spec))
    return gpus


def check_args(args):
    """(towers, cluster) once the flags are consistent; UsageError naming the flag otherwise."""
    towers = max(len(parse_gpus(args.gpu)), 1)
    if args.batch < 1 or args.batch % towers:
        lo, hi = args.batch // towers * towers, (args.batch // towers + 1) * towers
        raise UsageError('--batch {} does not split evenly across {} towers (--gpu {}): use a multiple '
                         'of {}, e.g. {}'.format(args.batch, towers, args.gpu, towers,
                                                 ' or '.join(str(b) for b in (lo, hi) if b > 0)))
    if args.mode == 'resnext' and args.depth not in (50, 101, 152):
        raise UsageError('--mode resnext needs -d 50, 101 or 152 (a bottleneck depth); got -d {}'.format(args.depth))
    if args.finetune and not args.load:
        raise UsageError('--finetune needs --load WEIGHTS: the pretrained model to start from')
    for flag in ('eval', 'predict', 'export'):
        if getattr(args, flag) and not args.load:
            raise UsageError('--{} needs --load CKPT: the model to use'.format(flag))
    try:
        cluster = Cluster.from_flags(args.hosts, args.task_index)
    except ClusterError as e:
        raise UsageError(str(e)) from None
    if cluster and towers > 1:
        raise UsageError('--hosts runs one GPU per worker process: start one process per GPU, each with '
                         'its own --gpu and --task-index (got --gpu {})'.format(args.gpu))
    if cluster and (args.eval or args.predict or args.export):
        raise UsageError('--eval, --predict and --export run on one machine: drop --hosts / TF_CONFIG')
    for name in ('epochs', 'steps_per_epoch', 'epoch_images', 'image_size', 'keep', 'workers', 'max_image_pixels'):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UsageError('--{} must be positive, got {}'.format(name.replace('_', '-'), v))
    if not args.collective_timeout > 0:
        raise UsageError('--collective-timeout must be positive, got {}'.format(args.collective_timeout))
    if not 0 <= args.max_bad_fraction < 1:
        raise UsageError('--max-bad-fraction must be in [0, 1), got {}'.format(args.max_bad_fraction))
    if not 0 <= args.warmup_epochs < 1e9 or not 0 <= args.warmup_lr < 1e9:
        raise UsageError('--warmup-epochs and --warmup-lr must be 0 or more, got {} and {}'.format(
            args.warmup_epochs, args.warmup_lr))
    for check in (check_recipe, check_init, check_augment):
        check(args)         # FlagError, reported as UsageError is
    return towers, cluster


def make_run(args):
    towers, cluster = check_args(args)
    if args.gpu:
        # Before TensorFlow first touches a device (importing it does not).
        os.environ['CUDA_VISIBLE_DEVICES'] = args.gpu
    data = args.data
    if data is None and not (args.fake or args.predict or args.export):
        from webvision.data.demo import build_demo
        data = build_demo()[0]
    elif data is None and args.predict:
        from webvision.data.demo import built_demo_root
        data = built_demo_root()            # its names, for a model trained on it
    from webvision.runtime import tfcompat
    from webvision.weights.checkpoints import resolve_checkpoint
    from webvision.model.run import Run
    load = resolve_checkpoint(args.load) if args.load else None
    logdir = None if args.predict or args.export else args.logdir or default_logdir(args, data)
    if logdir:
        check_folder_output(logdir, '--logdir')
    args.padding = args.padding or weights_padding(resumed_from(args, logdir) or load)
    # a run's own record (resuming) is in its logdir
    transform = choose_transform(args.eval_transform, load or (logdir and os.path.join(logdir, 'model')))
    args.image_size = args.image_size or transform.crop
    on_gpu = bool(args.gpu) or tfcompat.is_gpu_available()
    global_batch = args.batch * (cluster.size if cluster else 1)
    return Run(args=args, towers=towers, cluster=cluster, data=data,
               logdir=logdir,
               data_format='NHWC' if args.export else args.data_format or ('NCHW' if on_gpu else 'NHWC'),
               on_gpu=on_gpu, per_tower=args.batch // towers, global_batch=global_batch,
               steps_per_epoch=steps_per_epoch(args, data, global_batch),
               base_lr=args.lr if args.lr is not None else 0.1 * global_batch / 256.,
               workers=args.workers if args.workers is not None else len(os.sched_getaffinity(0)),
               load=load, transform=transform)


def resumed_from(args, logdir):
    """The checkpoint a training run resumes from (its logdir's newest), or None."""
    if args.eval or args.fake or not logdir or not os.path.isdir(logdir):
        return None
    from webvision.weights.checkpoints import latest_checkpoint
    return latest_checkpoint(logdir)


def weights_padding(load):
    """The padding the weights at ``load`` were trained with: their run's config.yaml says; a TF
    checkpoint of tensorpack's ResNet names without one was written by tensorpack's own graphs (the
    original benchmark's among them), which pad SAME; an .npz its record (caffe for a converted Caffe
    model); anything else (converted from PyTorch, or nothing loaded) symmetric."""
    from webvision.weights.checkpoints import npz_padding, is_tensorpack_resnet
    if not load:
        return 'symmetric'
    if load.endswith('.npz'):
        return npz_padding(load)
    path = os.path.join(os.path.dirname(os.path.abspath(load)), config.FILE_NAME)
    if os.path.lexists(path):
        return config.read_config(path).get('padding') or 'symmetric'     # runs before --padding existed
    if is_tensorpack_resnet(load):
        print('--padding same: {} is a tensorpack ResNet checkpoint that no run of this toolkit wrote (no {} '
              'beside it), as the original benchmark\'s are; --padding symmetric if it is not'.format(
                  load, config.FILE_NAME), file=sys.stderr)
        return 'same'
    return 'symmetric'


def steps_per_epoch(args, data, global_batch):
    """--steps-per-epoch, else --epoch-images (default: the training list's images) / the global batch."""
    if args.steps_per_epoch:
        return args.steps_per_epoch
    images = args.epoch_images
    if images is None:
        training = data and not (args.fake or args.eval or args.predict or args.export)
        images = count_images(list_path(data, 'train', args.train_list or args.source)) if training else IMAGES_PER_EPOCH
    return max(images // global_batch, 1)


def default_logdir(args, data_root):
    name = os.path.basename(os.path.normpath(data_root)) if data_root else 'fake'
    mode = args.mode if args.mode != 'resnext' else 'resnext32x{}d'.format(args.group_width)
    return os.path.join('train_log', '{}-d{}-{}'.format(mode, args.depth, name))


def run_model_flags(parser, args, argv):
    """--eval, --predict, --export of a run of this toolkit: the model flags it was trained with
    (its config.yaml), where the command line and --config leave them out."""
    if not args.load or not (args.eval or args.predict or args.export):
        return args
    folder = args.load if os.path.isdir(args.load) else os.path.dirname(os.path.abspath(args.load))
    path = os.path.join(folder, config.FILE_NAME)
    if not os.path.lexists(path):
        return args
    try:
        trained = config.read_config(path)
    except InputError as e:
        parser.error(str(e))
    defaults = {k: trained[k] for k in MODEL_FLAGS if k in trained}
    parser.set_defaults(**defaults)
    print('Model flags of {}: {}'.format(path, ', '.join('{} {}'.format(k, v) for k, v in defaults.items())),
          file=sys.stderr)
    return config.parse_args(parser, argv)


MODEL_FLAGS = ('depth', 'mode', 'group_width', 'image_size', 'padding')     # what the weights' shapes and names need


def main(args):
    """Runs what the flags ask for (train, --eval, --predict, --export); the exit status."""
    configure_tensorflow()      # before TensorFlow is imported
    from webvision.core.memory import keep_freed_memory
    keep_freed_memory()
    run = make_run(args)
    if args.predict:
        from webvision.eval.runner import predict
        return predict(run)
    if args.export:
        from webvision.weights.freeze import export_run
        return export_run(run)
    if args.eval:
        from webvision.eval.runner import evaluate
        return evaluate(run)
    from webvision.train.runner import train
    return train(run)


# Errors in what the user gave (data, lists, weights, paths), reported in one line; anything else
# is a bug and keeps its traceback. Those defined beside TensorFlow code are found among the
# modules the run has loaded (an error cannot come from a module that was never imported).
INPUT_ERRORS = (InputError, ClusterError, FileNotFoundError, NotADirectoryError, PermissionError)
TF_INPUT_ERRORS = (('webvision.weights.checkpoints', 'CheckpointError'), ('webvision.train.training', 'TrainingStopped'))


def loaded(errors):
    return tuple(getattr(sys.modules[m], name) for m, name in errors if m in sys.modules)


def report_input_error(e, debug):
    if debug:
        traceback.print_exc()
    print('error: {}'.format(e), file=sys.stderr, flush=True)
    return 1


def run_command(argv=None):
    parser = get_args_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = run_model_flags(parser, config.parse_args(parser, argv), argv)
    try:
        code = main(args)
    except (UsageError, FlagError) as e:
        parser.error(str(e))            # exits 2 before any TensorFlow session exists
    except KeyboardInterrupt as e:
        from webvision.runtime.signals import STOP_EXIT_CODES
        code = STOP_EXIT_CODES.get(str(e), 130)
    except INPUT_ERRORS as e:
        code = report_input_error(e, args.debug)
    except Exception as e:
        if isinstance(e, loaded(TF_INPUT_ERRORS)):
            code = report_input_error(e, args.debug)
        else:
            traceback.print_exc()
            code = 1
    if 'webvision.runtime.tfcompat' in sys.modules:
        sys.modules['webvision.runtime.tfcompat'].abandon_loaders()   # a thread may still wait on a loader
    exit_process(code)


def eval_command(argv=None):
    """webvision-eval: this command with --eval."""
    run_command(['--eval'] + (sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':
    run_command()
