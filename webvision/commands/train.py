#!/usr/bin/env python3
# -*- coding: UTF-8 -*-
# File: imagenet-resnet.py
"""Train and evaluate ResNet / ResNeXt classifiers on WebVision (or any root in the same layout).

  train:      imagenet-resnet.py --data ROOT --gpu 0,1,2,3 -d 50 --mode resnet
  evaluate:   imagenet-resnet.py --data ROOT -d 50 --mode resnet --eval --load train_log/RUN/model-N
  benchmark:  imagenet-resnet.py --fake -d 50 --batch 32 --steps-per-epoch 20 --epochs 1

Without --data the embedded demo set is used (built on first use from photos that
scikit-image and scikit-learn ship). Rerunning a training command resumes from the newest
checkpoint in its --logdir.
"""
import argparse
import dataclasses
import functools
import json
import os
import sys
import traceback

from webvision.core.memory import keep_freed_memory
from webvision.core.process import configure_tensorflow, exit_process

configure_tensorflow()      # before TensorFlow is imported
keep_freed_memory()
from webvision.runtime import tfcompat  # noqa: E402
from tensorpack import QueueInput, TrainConfig, logger  # noqa: E402
from tensorpack import launch_train_with_config  # noqa: E402
from tensorpack.predict import PredictConfig  # noqa: E402

from webvision.dataflow import dataset as wd  # noqa: E402
from webvision.train import callbacks, training  # noqa: E402
from webvision.weights import checkpoints as ckpt  # noqa: E402
from webvision.eval import inference  # noqa: E402
from webvision.results import probs  # noqa: E402
from webvision.runtime import signals  # noqa: E402
from webvision.data.bad_images import add_bad_input_args, bad_log_path  # noqa: E402
from webvision.core.constants import ERROR_NAMES, HEAD_PREFIX, IMAGES_PER_EPOCH, INPUT, PROB, SOURCES  # noqa: E402
from webvision.data.decode import decode_image, decoder  # noqa: E402
from webvision.train.distributed import Cluster, ClusterError, add_cluster_args  # noqa: E402
from webvision.core import config  # noqa: E402
from webvision.core.errors import InputError  # noqa: E402
from webvision.core.fileio import check_folder_output, check_outputs  # noqa: E402
from webvision.weights.freeze import TooLargeToFreeze, export as export_model  # noqa: E402
from webvision.train.ema import WeightAverage  # noqa: E402
from webvision.model.recipe import RecipeError, add_recipe_args, check_recipe, recipe_from_args  # noqa: E402
from webvision.runtime.session import session_creator as new_session_creator  # noqa: E402
from webvision.data.transform import add_transform_arg, choose as choose_transform, write_record  # noqa: E402
from webvision.model.resnet import DEPTHS, GROUP_WIDTHS, MODES, ResNetModel  # noqa: E402


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    config.add_config_arg(p.add_argument_group('settings file'))
    add_task_and_data_args(p)
    add_model_and_schedule_args(p)
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
        'serving_default) and DIR/model.onnx: uint8 BGR images [N, size, size, 3] in, class probabilities out')
    g.add_argument('--fake', action='store_true', help='train on random uint8 batches and print images/s: the '
        'speed of the compute alone')
    g = p.add_argument_group('data')
    g.add_argument('--data', metavar='DIR', help='prepared dataset root (meta/synsets.txt, meta/train.txt, train/, '
        'meta/val.txt, val/). Default: the embedded demo set, built on first use')
    g.add_argument('--source', default='all', choices=SOURCES, help='which crawl to train on: meta/train.txt (all) '
        'or meta/train_google.txt / train_flickr.txt as utils/preprocess.py writes them (default: %(default)s)')
    g.add_argument('--balance', action='store_true', help='draw training classes uniformly (an epoch is classes x the '
        'largest class\'s images, as the published models trained), instead of in proportion to their images')
    g.add_argument('--format', default='files', choices=('files', 'lmdb'), help='read images from the files in the '
        'lists, or from DIR/lmdb/<list>.lmdb written by utils/pack_lmdb.py: one sequential file per split, '
        'shuffled locally (default: %(default)s)')
    g.add_argument('--image-size', type=int, default=224, help='crop size (default: %(default)s)')
    g.add_argument('--workers', type=int, help='loader processes (default: the number of CPU cores)')


def add_model_and_schedule_args(p):
    g = p.add_argument_group('model')
    g.add_argument('-d', '--depth', type=int, default=50, choices=sorted(DEPTHS), help='ResNet depth (default: %(default)s)')
    g.add_argument('--mode', default='resnet', choices=MODES, help='variant (default: %(default)s); resnext needs '
        '-d 50, 101 or 152')
    g.add_argument('--group-width', type=int, default=4, choices=GROUP_WIDTHS, help='ResNeXt width per group, '
        'cardinality 32: 4 is 32x4d, 8..48 the WSL 32x8d..32x48d models (default: %(default)s)')
    g.add_argument('--data-format', choices=('NCHW', 'NHWC'), help='default: NCHW on GPUs, NHWC on the CPU')
    g = p.add_argument_group('training schedule')
    g.add_argument('--batch', type=int, default=256, help='batch size of this process, split evenly across its towers; '
        'with --hosts the global batch is this x the number of workers (default: %(default)s)')
    g.add_argument('--lr', type=float, help='peak learning rate (default: 0.1 x batch / 256; when above 0.1 it is '
        'reached by a linear warm-up from 0.1 over --warmup-epochs)')
    g.add_argument('--warmup-epochs', type=float, default=3, help='(default: %(default)s)')
    g.add_argument('--epochs', type=int, default=110, help='epochs to train; with --lr-schedule step the learning '
        'rate drops 10x at 30/110, 60/110 and 90/110 of them, as in the original (default: %(default)s)')
    g.add_argument('--steps-per-epoch', type=int, help='default: {:,} images / batch, as the original'.format(IMAGES_PER_EPOCH))
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
    for name in ('epochs', 'steps_per_epoch', 'image_size', 'keep', 'workers', 'max_image_pixels'):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UsageError('--{} must be positive, got {}'.format(name.replace('_', '-'), v))
    if not args.collective_timeout > 0:
        raise UsageError('--collective-timeout must be positive, got {}'.format(args.collective_timeout))
    if not 0 <= args.max_bad_fraction < 1:
        raise UsageError('--max-bad-fraction must be in [0, 1), got {}'.format(args.max_bad_fraction))
    check_recipe(args)      # RecipeError, reported as UsageError is
    return towers, cluster


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything a run needs, computed once from the flags (nothing changes it afterwards)."""
    args: argparse.Namespace        # the flags as given, for the settings used as they are
    towers: int
    cluster: Cluster | None
    data: str | None                # the prepared root; the demo set when --data is not given
    logdir: str | None
    data_format: str
    on_gpu: bool
    per_tower: int
    global_batch: int
    steps_per_epoch: int
    base_lr: float
    workers: int
    load: str | None                # --load resolved to a checkpoint prefix or .npz
    transform: object               # webvision.data.transform.Transform of evaluation images (.at_size(image size))

    @property
    def is_chief(self):
        return self.cluster is None or self.cluster.is_chief

    @property
    def shard(self):
        """(this worker, workers) of a multi-machine run, else None."""
        return (self.cluster.task_index, self.cluster.size) if self.cluster else None


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
    load = ckpt.resolve_checkpoint(args.load) if args.load else None
    logdir = None if args.predict or args.export else args.logdir or default_logdir(args, data)
    if logdir:
        check_folder_output(logdir, '--logdir')
    on_gpu = bool(args.gpu) or tfcompat.is_gpu_available()
    global_batch = args.batch * (cluster.size if cluster else 1)
    return Run(args=args, towers=towers, cluster=cluster, data=data,
               logdir=logdir,
               data_format='NHWC' if args.export else args.data_format or ('NCHW' if on_gpu else 'NHWC'),
               on_gpu=on_gpu, per_tower=args.batch // towers, global_batch=global_batch,
               steps_per_epoch=args.steps_per_epoch or max(IMAGES_PER_EPOCH // global_batch, 1),
               base_lr=args.lr if args.lr is not None else 0.1 * global_batch / 256.,
               workers=args.workers if args.workers is not None else len(os.sched_getaffinity(0)),
               load=load, transform=choose_transform(     # a run's own record (resuming) is in its logdir
                   args.eval_transform, load or (logdir and os.path.join(logdir, 'model'))))


def default_logdir(args, data_root):
    name = os.path.basename(os.path.normpath(data_root)) if data_root else 'fake'
    mode = args.mode if args.mode != 'resnext' else 'resnext32x{}d'.format(args.group_width)
    return os.path.join('train_log', '{}-d{}-{}'.format(mode, args.depth, name))


def make_model(run, num_classes):
    a = run.args
    return ResNetModel(a.depth, a.mode, num_classes=num_classes, group_width=a.group_width,
                       data_format=run.data_format, image_size=a.image_size, trunk_lr_mult=a.trunk_lr_mult,
                       color_augment=not a.fake,        # the loaders only crop and flip
                       float16_loss_scaling=a.amp and run.on_gpu, recipe=recipe_from_args(a, run.steps_per_epoch))


def weights(run, **kwargs):
    """The --load weights for evaluation, prediction and export: their moving average where kept."""
    return ckpt.WeightLoader(run.args.load, strict=True, averaged=not run.args.no_ema, **kwargs)


def session_creator(run):
    a = run.args
    return new_session_creator(a.threads, run.on_gpu, a.amp, a.xla, run.cluster)


def image_decoder(run, is_train):
    a = run.args
    return decoder(is_train, a.image_size, max_pixels=a.max_image_pixels, tta=a.tta, transform=run.transform)


"""
====== Training =======
"""


def bad_log(run):
    return bad_log_path(run.logdir, run.cluster.task_index if run.cluster else None)


def fake_inputs(run):
    """(num_classes, QueueInput, callbacks) of a --fake benchmark: random batches, images/s."""
    num_classes = wd.WebVisionMeta(run.data).num_classes if run.data else 1000
    if run.is_chief:
        logger.set_logger_dir(run.logdir, action='d')
    warmup = min(5, max(1, run.steps_per_epoch * run.args.epochs // 4))
    data = QueueInput(wd.FakeImageData(run.per_tower, run.args.image_size, num_classes))
    average = [WeightAverage(run.args.ema)] if run.args.ema else []
    return num_classes, data, average + [callbacks.Throughput(run.global_batch, warmup_steps=warmup)]


def starting_point(run):
    """(SessionInit or None, first epoch): the chief resumes from its logdir or starts from --load;
    other workers start from the chief's variables, at the epoch of its newest checkpoint."""
    a = run.args
    if not run.is_chief:
        latest = ckpt.latest_checkpoint(run.logdir)     # where the workers share the logdir
        return None, ckpt.epoch_after(latest, run.steps_per_epoch) if latest else 1
    logger.set_logger_dir(run.logdir, action='k')
    if run.transform.kind != 'toolkit':         # for --eval of this run's checkpoints
        write_record(run.logdir, run.transform)
    save_settings(run)
    session_init, epoch = ckpt.resume_point(run.logdir, run.steps_per_epoch)
    if session_init is None and a.load:
        session_init = ckpt.WeightLoader(a.load, drop='^' + HEAD_PREFIX if a.finetune else None)
    return session_init, epoch


def save_settings(run):
    """LOGDIR/config.yaml: this start's resolved settings (a resumed run with other ones says which)."""
    path = os.path.join(run.logdir, config.FILE_NAME)
    values = config.settings(run.args, lr=run.base_lr, steps_per_epoch=run.steps_per_epoch, data=run.data,
                             logdir=run.logdir)
    if os.path.lexists(path):
        diffs = config.changed(config.read_config(path), values)
        if diffs:
            logger.warn('{} had other settings; this start: {}'.format(path, '; '.join(diffs)))
    config.write_config(path, values, 'imagenet-resnet.py')


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


MODEL_FLAGS = ('depth', 'mode', 'group_width', 'image_size')     # what the weights' shapes and names need


def data_inputs(run):
    """(num_classes, QueueInput, callbacks) of a training run on --data."""
    a = run.args
    meta, source = wd.WebVisionMeta(run.data), a.train_list or a.source
    meta.check_complete(['train'] + ([] if a.no_val else ['val']), source=source, fmt=a.format)
    flow = wd.get_train_dataflow(run.data, run.per_tower, image_decoder(run, True), run.workers,
                                 bad_log_path=bad_log(run), source=source, balance=a.balance, fmt=a.format,
                                 shard=run.shard, max_bad_fraction=a.max_bad_fraction, with_index=a.sample_loss)
    data, watchers = training.watched_input(flow, a.max_bad_fraction, bad_log(run))
    average = WeightAverage(a.ema) if a.ema else None
    cbs = training.epoch_callbacks(
        logdir=run.logdir, steps_per_epoch=run.steps_per_epoch, keep=a.keep, bad_log_path=bad_log(run),
        average=average, schedule=dict(base_lr=run.base_lr, epochs=a.epochs, warmup_epochs=a.warmup_epochs,
                                       kind=a.lr_schedule)) + watchers
    if a.sample_loss:
        cbs.append(callbacks.SampleLosses(run.logdir, len(meta.file_list('train', source)), run.steps_per_epoch,
                                          task=run.shard and run.shard[0]))
    if not a.no_val:
        val = wd.get_eval_dataflow(run.data, 'val', run.per_tower, image_decoder(run, False),
                                   parallel=min(run.workers, 4), fmt=a.format, with_index=a.sample_loss)
        cbs.append(training.validation_callback(val, meta.num_classes, run.towers, average))
    return meta.num_classes, data, cbs


def train(run):
    a = run.args
    session_init, first_epoch = (None, 1) if a.fake else starting_point(run)
    if first_epoch > a.epochs:
        logger.info('{} is already trained to epoch {} of --epochs {}: nothing to do'.format(
            run.logdir, first_epoch - 1, a.epochs))
        return 0
    num_classes, data, cbs = fake_inputs(run) if a.fake else data_inputs(run)
    logger.info('{} classes, {} tower(s) of batch {}, global batch {}, data format {}, {} steps per epoch, '
                'epochs {}..{}'.format(num_classes, run.towers, run.per_tower, run.global_batch, run.data_format,
                                       run.steps_per_epoch, first_epoch, a.epochs))
    config = TrainConfig(model=make_model(run, num_classes), data=data, callbacks=cbs,
                         session_creator=session_creator(run), session_init=session_init,
                         starting_epoch=first_epoch, steps_per_epoch=run.steps_per_epoch, max_epoch=a.epochs)
    if not a.fake:
        signals.stop_on_signals()
    trainer = training.make_trainer(run.towers, run.cluster, a.collective_timeout,
                                    functools.partial(ckpt.resume_hint, run.logdir, run.is_chief))
    launch_train_with_config(config, trainer)
    training.raise_why_stopped(trainer, cbs)
    return 0


"""
====== Evaluation, prediction, export =======
"""


def evaluate(run):
    a = run.args
    load = run.load
    path = a.predictions or '{}.{}.predictions.json'.format(load, os.path.basename(os.path.normpath(run.data)))
    meta = wd.WebVisionMeta(run.data)
    check_outputs([('--predictions', path), ('--save-probs', a.save_probs),
                   ('--save-probs (its .json)', a.save_probs and probs.sidecar_path(a.save_probs))],
                  [('--load', f) for f in ckpt.checkpoint_files(load)] + [('--data', meta.list_path('val'))])
    meta.check_complete(['val'], fmt=a.format)
    files = meta.file_list('val')
    decode = image_decoder(run, False)
    logger.info('Evaluation transform: ' + run.transform.at_size(run.args.image_size).describe())
    views = getattr(decode, 'views', 1)
    ds = wd.get_eval_dataflow(run.data, 'val', max(64 * run.towers // views, 1), decode, parallel=run.workers,
                              with_index=True, fmt=a.format)
    n, errors = inference.evaluate_list(
        make_model(run, meta.num_classes), weights(run), ds, names=[files.name(i) for i in range(len(files))],
        num_classes=meta.num_classes, list_path=meta.list_path('val'), weights=load, predictions=path,
        creator=session_creator(run), towers=run.towers, views=views, save_probs=a.save_probs,
        about=dict(list=meta.list_path('val'), weights=load, tta=a.tta, transform=run.transform.kind,
                   ema=not a.no_ema and ckpt.has_average(load)))
    print('Wrote {} predictions to {}{}'.format(n, path, ' and their probabilities to ' + a.save_probs
                                               if a.save_probs else ''))
    if errors is None:
        print('All labels are 0: a test list without labels, so no errors are computed.')
        return 0
    for name in ERROR_NAMES:
        print('{} Error: {:.4f}'.format(name, errors[name]))
    return 0


def predict(run):
    tfcompat.logs_to_stderr()     # stdout is for the results
    num_classes = ckpt.read_num_classes(run.load)
    names = wd.class_names(num_classes, run.data, warn=bool(run.args.data))
    decode = image_decoder(run, False)
    logger.info('Evaluation transform: ' + run.transform.at_size(run.args.image_size).describe())
    pred = inference.inference_predictor(PredictConfig(
        model=make_model(run, num_classes), session_init=weights(run),
        session_creator=session_creator(run), input_names=[INPUT], output_names=[PROB]))
    failed = 0
    for path in run.args.predict:
        im, reason = decode_image(path, decode)
        if im is None:
            print('{}: cannot predict: {}'.format(path, reason), file=sys.stderr)
            failed += 1
            continue
        prob = pred(im[None])[0][0]
        print(path)
        for c in inference.top_classes(prob, run.args.topk):
            print('{:.2f} - {!r}'.format(prob[c], names[c]))
    return 1 if failed else 0


def export(run):
    """SavedModel and ONNX of the inference graph, channels-last so that they run anywhere."""
    a = run.args
    config = PredictConfig(model=make_model(run, ckpt.read_num_classes(run.load)),
                           session_init=weights(run), input_names=[INPUT], output_names=[PROB])
    t = run.transform.at_size(a.image_size)
    note = dict(json.loads(t.to_json()), description='uint8 BGR [N, {s}, {s}, 3] made by {}'.format(
        t.describe(), s=a.image_size))
    try:
        saved, onnx_path = export_model(config, a.export, preprocessing=note)
    except TooLargeToFreeze as e:
        raise UsageError('--export: {}: {}'.format(a.load, e)) from None
    print('Wrote {} and {} (input "input": uint8 BGR [N, {s}, {s}, 3], made by the {} transform, see '
          'saved_model/assets.extra/preprocessing.json; output "prob")'.format(
              saved, onnx_path, run.transform.kind, s=a.image_size))
    return 0


def main(args):
    run = make_run(args)
    if args.predict:
        return predict(run)
    if args.export:
        return export(run)
    if args.eval:
        return evaluate(run)
    return train(run)


# Errors in what the user gave (data, lists, weights, paths), reported in one line; anything else
# is a bug and keeps its traceback.
INPUT_ERRORS = (InputError, ckpt.CheckpointError, training.TrainingStopped, ClusterError, FileNotFoundError,
                NotADirectoryError, PermissionError)


def run_command(argv=None):
    parser = get_args_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = run_model_flags(parser, config.parse_args(parser, argv), argv)
    try:
        code = main(args)
    except (UsageError, RecipeError) as e:
        parser.error(str(e))            # exits 2 before any TensorFlow session exists
    except KeyboardInterrupt as e:
        code = signals.STOP_EXIT_CODES.get(str(e), 130)
    except INPUT_ERRORS as e:
        if args.debug:
            traceback.print_exc()
        print('error: {}'.format(e), file=sys.stderr, flush=True)
        code = 1
    except Exception:
        traceback.print_exc()
        code = 1
    tfcompat.abandon_loaders()          # results are written; a thread may still wait on a loader
    exit_process(code)


if __name__ == '__main__':
    run_command()
