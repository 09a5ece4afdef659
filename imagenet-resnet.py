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
import functools
import json
import logging
import os
import shutil
import sys
import traceback
from types import SimpleNamespace

import numpy as np

import tfcompat  # noqa: F401  (sets up TensorFlow for tensorpack; must precede it)
from tensorpack import QueueInput, SimpleTrainer, SyncMultiGPUTrainerReplicated, TrainConfig, logger
from tensorpack import launch_train_with_config
from tensorpack.predict import PredictConfig
from tensorpack.callbacks import DataParallelInferenceRunner, EstimatedTimeLeft, InferenceRunner

import imagenet_utils as iu
import webvision_dataset as wd
from resnet_model import DEPTHS, GROUP_WIDTHS, MODES, ResNetModel
from distributed import (COLLECTIVE_TIMEOUT, JOIN_TIMEOUT_FACTOR, Cluster, ClusterError, CollectiveAllReduceTrainer,
                         WorkerLost)
from utils.scoring import InputError, check_writable, write_atomic

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES_PER_EPOCH = 1280000      # the original's epoch (ImageNet-sized), so its tables stay comparable


def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a('--data', metavar='DIR', help='prepared dataset root (meta/synsets.txt, meta/train.txt, train/, '
      'meta/val.txt, val/). Default: the embedded demo set, built on first use')
    a('--gpu', metavar='IDS', help='comma-separated GPU ids, one tower each, trained synchronously '
      '(replicated). Omit to train on the CPU')
    a('--source', default='all', choices=wd.SOURCES, help='which crawl to train on: meta/train.txt (all) '
      'or meta/train_google.txt / train_flickr.txt as utils/preprocess.py writes them (default: %(default)s)')
    a('-d', '--depth', type=int, default=50, choices=sorted(DEPTHS), help='ResNet depth (default: %(default)s)')
    a('--mode', default='resnet', choices=MODES, help='variant (default: %(default)s); resnext needs '
      '-d 50, 101 or 152')
    a('--group-width', type=int, default=4, choices=GROUP_WIDTHS, help='ResNeXt width per group, '
      'cardinality 32: 4 is 32x4d, 8..48 the WSL 32x8d..32x48d models (default: %(default)s)')
    a('--data-format', choices=('NCHW', 'NHWC'), help='default: NCHW on GPUs, NHWC on the CPU')
    a('--batch', type=int, default=256, help='batch size of this process, split evenly across its towers; '
      'with --hosts the global batch is this x the number of workers (default: %(default)s)')
    a('--lr', type=float, help='peak learning rate (default: 0.1 x batch / 256; when above 0.1 it is '
      'reached by a linear warm-up from 0.1 over --warmup-epochs)')
    a('--warmup-epochs', type=float, default=3, help='(default: %(default)s)')
    a('--epochs', type=int, default=110, help='epochs to train; the learning rate drops 10x at '
      '30/110, 60/110 and 90/110 of them, as in the original (default: %(default)s)')
    a('--steps-per-epoch', type=int, help='default: {:,} images / batch, as the original'.format(IMAGES_PER_EPOCH))
    a('--image-size', type=int, default=224, help='crop size (default: %(default)s)')
    a('--balance', action='store_true', help='draw training classes uniformly (an epoch is classes x the '
      'largest class\'s images, as the published models trained), instead of in proportion to their images')
    a('--format', default='files', choices=('files', 'lmdb'), help='read images from the files in the '
      'lists, or from DIR/lmdb/<list>.lmdb written by utils/pack_lmdb.py: one sequential file per split, '
      'shuffled locally (default: %(default)s)')
    a('--logdir', help='checkpoints and logs; default train_log/<mode>-d<depth>-<dataset name>. '
      'An existing run there is resumed')
    a('--load', metavar='CKPT', help='initialise from a checkpoint (model-N or its .index) or .npz; '
      'variables whose shape differs (another class count) are skipped and listed. With --eval: '
      'the model to evaluate')
    a('--finetune', action='store_true', help='with --load: start a new run from pretrained weights '
      '(e.g. converted WSL ResNeXt) with their classifier head dropped and a fresh one for this data\'s classes')
    a('--trunk-lr-mult', type=float, default=1., help='learning-rate multiplier for everything but the '
      'head, e.g. 0.1 when fine-tuning (default: %(default)s)')
    a('--keep', type=int, default=5, help='checkpoints to keep (default: %(default)s)')
    a('--workers', type=int, help='loader processes (default: the number of CPU cores)')
    a('--threads', type=int, help='CPU threads for TensorFlow ops (default: all cores)')
    a('--eval', action='store_true', help='evaluate --load on every image of DIR/meta/val.txt')
    a('--predict', nargs='+', metavar='IMAGE', help='print the top-5 classes of each image for --load; '
      'names from --data\'s meta, or ImageNet\'s for a 1,000-class model')
    a('--predictions', metavar='PATH', help='with --eval: where to write the predictions JSON '
      '(default: beside the checkpoint)')
    a('--export', metavar='DIR', help='write --load as DIR/saved_model (TensorFlow SavedModel, signature '
      'serving_default) and DIR/model.onnx: uint8 BGR images [N, size, size, 3] in, class probabilities out')
    a('--amp', action='store_true', help='mixed precision: float16 with loss scaling on GPUs, bfloat16 on CPUs '
      '(oneDNN; pays off with AMX: on a CPU with AVX512_BF16 but no AMX, ResNet-50 inference ran at half '
      'the float32 speed); variables stay float32')
    a('--xla', action='store_true', help='compile the graph with XLA (auto-clustering)')
    a('--fake', action='store_true', help='train on random uint8 batches and print images/s: the '
      'speed of the compute alone')
    a('--no-val', action='store_true', help='skip validation at the end of each epoch')
    a('--hosts', metavar='H:P,H:P,...', help='multi-machine training: every worker process\'s address, '
      'the chief (task 0) first; start the same command with --task-index 0..N-1, one process per GPU. '
      'Without it, TF_CONFIG is read if set. Learning rate and steps per epoch follow the global batch')
    a('--task-index', type=int, metavar='I', help='with --hosts: this process\'s position in the list')
    a('--collective-timeout', type=float, default=COLLECTIVE_TIMEOUT, metavar='S', help='with --hosts: stop when '
      'a step waits longer than this for the other workers (a machine gone without a connection reset); at the '
      'start they wait {}x as long for each other (default: %(default)s)'.format(JOIN_TIMEOUT_FACTOR))
    a('--max-image-pixels', type=int, default=wd.MAX_IMAGE_PIXELS, metavar='N', help='refuse images whose header '
      'claims more pixels, before decoding them (training and evaluation count them as undecodable) '
      '(default: %(default)s, Pillow\'s)')
    a('--max-bad-fraction', type=float, default=0.5, metavar='F', help='stop training when more than this fraction '
      'of the last {:,} images a loader tried could not be decoded (default: %(default)s)'.format(wd.BAD_WINDOW))
    a('--debug', action='store_true', help='print the traceback of an error about the input too')
    return p


class UsageError(Exception):
    pass


class TrainingStopped(RuntimeError):
    """Training stopped for a reason outside the program (its loaders, its data); the message says which."""


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
    """Errors that need no TensorFlow, reported before it is imported."""
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
        args.cluster = Cluster.from_flags(args.hosts, args.task_index)
    except ClusterError as e:
        raise UsageError(str(e)) from None
    if args.cluster and towers > 1:
        raise UsageError('--hosts runs one GPU per worker process: start one process per GPU, each with '
                         'its own --gpu and --task-index (got --gpu {})'.format(args.gpu))
    if args.cluster and (args.eval or args.predict or args.export):
        raise UsageError('--eval, --predict and --export run on one machine: drop --hosts / TF_CONFIG')
    for name in ('epochs', 'steps_per_epoch', 'image_size', 'keep', 'workers', 'max_image_pixels'):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UsageError('--{} must be positive, got {}'.format(name.replace('_', '-'), v))
    if not args.collective_timeout > 0:
        raise UsageError('--collective-timeout must be positive, got {}'.format(args.collective_timeout))
    if not 0 <= args.max_bad_fraction < 1:
        raise UsageError('--max-bad-fraction must be in [0, 1), got {}'.format(args.max_bad_fraction))
    return towers


def default_logdir(args, data_root):
    name = os.path.basename(os.path.normpath(data_root)) if data_root else 'fake'
    mode = args.mode if args.mode != 'resnext' else 'resnext32x{}d'.format(args.group_width)
    return os.path.join('train_log', '{}-d{}-{}'.format(mode, args.depth, name))


def on_gpu(args):
    return bool(args.gpu) or tfcompat.is_gpu_available()


def make_model(args, num_classes):
    fmt = args.data_format or ('NCHW' if on_gpu(args) else 'NHWC')
    model = ResNetModel(args.depth, args.mode, num_classes=num_classes, group_width=args.group_width,
                        data_format=fmt, image_size=args.image_size)
    model.trunk_lr_mult = args.trunk_lr_mult
    model.color_augment = not args.fake     # the loaders only crop and flip
    model.float16_loss_scaling = args.amp and on_gpu(args)
    return model


def session_creator(args):
    # On GPUs tensorpack's defaults are right; on the CPU every core must work on each op.
    if not on_gpu(args):
        return iu.CPUSessionCreator(args.threads, amp=args.amp, xla=args.xla)
    if args.amp or args.xla:
        return iu.ConfiguredSessionCreator(iu.session_config(gpu=True, amp=args.amp, xla=args.xla))
    return None


def cluster_session_creator(args):
    """Starts this worker's TensorFlow server; its sessions run on it."""
    config = iu.session_config(args.threads, on_gpu(args), args.amp, args.xla)
    server, config = args.cluster.start_server(config)
    return iu.ConfiguredSessionCreator(config, target=server.target)


def resume_point(logdir, steps_per_epoch):
    """(SessionInit, starting epoch) from the newest checkpoint in logdir, or (None, 1)."""
    ckpt = iu.latest_checkpoint(logdir)
    if ckpt is None:
        return None, 1
    step = checkpoint_step(ckpt)
    epoch = epoch_after(ckpt, steps_per_epoch)
    logger.info('Resuming from {}: global step {}, epoch {}'.format(ckpt, step, epoch))
    trim_stats(logdir, epoch - 1)
    return iu.ResumeRestore(ckpt), epoch


def checkpoint_step(ckpt):
    return int(ckpt.rsplit('-', 1)[1])


def epoch_after(ckpt, steps_per_epoch):
    """The epoch a run resumed from this checkpoint starts (or goes on) with."""
    return checkpoint_step(ckpt) // steps_per_epoch + 1


def trim_stats(logdir, last_epoch):
    """Drops stats.json entries of epochs after the checkpoint we resume from (a run killed between
    writing them and its next checkpoint), so that tensorpack appends to the history instead of
    moving it aside."""
    path = os.path.join(logdir, 'stats.json')
    if not os.path.isfile(path):
        return
    try:
        with open(path) as f:
            stats = json.load(f)
        if not isinstance(stats, list) or not all(isinstance(s, dict) for s in stats):
            raise ValueError('expected a list of objects')
    except ValueError as e:
        raise wd.DataError('{}: not the run\'s statistics ({}); move it aside to resume'.format(path, e)) from None
    kept = [s for s in stats if s.get('epoch_num', 0) <= last_epoch]
    if len(kept) != len(stats):
        logger.info('stats.json: dropping {} entries after epoch {}'.format(len(stats) - len(kept), last_epoch))
        write_json_atomic(path, kept)


def training_callbacks(args, num_classes, towers, steps_per_epoch, per_tower):
    base_lr = args.lr if args.lr is not None else 0.1 * global_batch(args) / 256.
    callbacks = [
        iu.StopOnSignal(),
        iu.EpochCheckpoint(steps_per_epoch, max_to_keep=args.keep, checkpoint_dir=args.logdir),
        iu.FinishInterruptedEpoch(),
        iu.LearningRateSchedule(base_lr=base_lr, steps_per_epoch=steps_per_epoch, epochs=args.epochs,
                                warmup_epochs=args.warmup_epochs),
        iu.BadImageReport(wd.BadImageLog(bad_log_path(args))),
        EstimatedTimeLeft(),
    ]
    if not args.no_val:
        val = wd.get_eval_dataflow(args.data, 'val', per_tower, image_decoder(args, False),
                                   parallel=min(workers(args), 4), fmt=args.format)
        infs = [iu.ValidationErrors(num_classes)]
        callbacks.append(InferenceRunner(QueueInput(val), infs) if towers == 1 else
                         DataParallelInferenceRunner(val, infs, list(range(towers))))
    return callbacks


def global_batch(args):
    return args.batch * (args.cluster.size if args.cluster else 1)


def is_chief(args):
    return args.cluster is None or args.cluster.is_chief


def bad_log_path(args):
    """The chief's list is logdir/bad_images.txt; other workers list theirs in logdir/worker-I/."""
    if is_chief(args):
        return os.path.join(args.logdir, 'bad_images.txt')
    folder = os.path.join(args.logdir, 'worker-{}'.format(args.cluster.task_index))
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, 'bad_images.txt')


def workers(args):
    return args.workers if args.workers is not None else len(os.sched_getaffinity(0))


def fake_run(args, per_tower, steps_per_epoch):
    """Inputs and callbacks of a --fake benchmark: random batches, no checkpoints, images/s."""
    num_classes = wd.WebVisionMeta(args.data).num_classes if args.data else 1000
    if is_chief(args):
        logger.set_logger_dir(args.logdir, action='d')
    warmup = min(5, max(1, steps_per_epoch * args.epochs // 4))
    return SimpleNamespace(num_classes=num_classes, session_init=None, starting_epoch=1, watchdog=None,
                           data=QueueInput(wd.FakeImageData(per_tower, args.image_size, num_classes)),
                           callbacks=[iu.Throughput(global_batch(args), warmup_steps=warmup)])


def data_run(args, towers, per_tower, steps_per_epoch):
    """Inputs and callbacks of a real run, resumed from its logdir; None when it is finished."""
    meta = wd.WebVisionMeta(args.data)
    meta.check_complete(['train'] + ([] if args.no_val else ['val']), source=args.source, fmt=args.format)
    num_classes = meta.num_classes
    session_init, starting_epoch = None, 1      # other workers start from the chief's variables
    if is_chief(args):
        logger.set_logger_dir(args.logdir, action='k')
        session_init, starting_epoch = resume_point(args.logdir, steps_per_epoch)
    else:
        # the chief broadcasts its step; where the workers share the logdir, a finished run is seen here too
        ckpt = iu.latest_checkpoint(args.logdir)
        starting_epoch = epoch_after(ckpt, steps_per_epoch) if ckpt else 1
    if starting_epoch > args.epochs:
        logger.info('{} is already trained to epoch {} of --epochs {}: nothing to do'.format(
            args.logdir, starting_epoch - 1, args.epochs))
        return None
    if session_init is None and args.load and is_chief(args):
        session_init = iu.WeightLoader(args.load, drop='^' + iu.HEAD_PREFIX if args.finetune else None)
    flow = wd.get_train_dataflow(args.data, per_tower, image_decoder(args, True), workers(args),
                                 bad_log_path=bad_log_path(args), source=args.source, balance=args.balance,
                                 fmt=args.format, shard=shard(args), max_bad_fraction=args.max_bad_fraction)
    counted = iu.CountedFlow(flow)
    data = QueueInput(counted)
    too_many_bad = wd.BadImageGuard.message(None, None, args.max_bad_fraction, bad_log_path(args))
    watchdog = iu.LoaderWatchdog(lambda: getattr(flow, '_procs', []), data, reasons={wd.BAD_IMAGES_EXIT: too_many_bad})
    callbacks = training_callbacks(args, num_classes, towers, steps_per_epoch, per_tower) + [
        watchdog, iu.InputMonitor(data, counted)]
    return SimpleNamespace(num_classes=num_classes, session_init=session_init, starting_epoch=starting_epoch,
                           watchdog=watchdog, data=data, callbacks=callbacks)


def image_decoder(args, is_train):
    return iu.decoder(is_train, args.image_size, max_pixels=args.max_image_pixels)


def shard(args):
    return (args.cluster.task_index, args.cluster.size) if args.cluster else None


def resume_hint(args):
    """How to go on after a worker was lost, for the error message."""
    if is_chief(args):
        ckpt = iu.latest_checkpoint(args.logdir)
        where = 'from {}'.format(ckpt) if ckpt else 'from the start (no checkpoint yet)'
    else:
        where = 'from the chief\'s newest checkpoint in its --logdir'
    return 'rerun the same command on every worker to resume {}'.format(where)


def make_trainer(args, towers):
    if args.cluster:
        return CollectiveAllReduceTrainer(args.cluster, args.collective_timeout, functools.partial(resume_hint, args))
    if towers == 1:
        return SimpleTrainer()
    # NCCL all-reduce on GPUs; without any (e.g. tests), towers fall back to the CPU and so must the reduction
    return SyncMultiGPUTrainerReplicated(towers, mode='nccl' if tfcompat.is_gpu_available() else 'cpu')


def train(args, towers):
    per_tower = args.batch // towers
    steps_per_epoch = args.steps_per_epoch or max(IMAGES_PER_EPOCH // global_batch(args), 1)
    run = fake_run(args, per_tower, steps_per_epoch) if args.fake else data_run(args, towers, per_tower, steps_per_epoch)
    if run is None:
        return
    model = make_model(args, run.num_classes)
    logger.info('{} classes, {} tower(s) of batch {}, global batch {}, data format {}, {} steps per epoch, '
                'epochs {}..{}'.format(run.num_classes, towers, per_tower, global_batch(args), model.data_format,
                                       steps_per_epoch, run.starting_epoch, args.epochs))
    creator = cluster_session_creator(args) if args.cluster else session_creator(args)
    config = TrainConfig(model=model, data=run.data, callbacks=run.callbacks, session_creator=creator,
                         session_init=run.session_init, starting_epoch=run.starting_epoch,
                         steps_per_epoch=steps_per_epoch, max_epoch=args.epochs)
    if not args.fake:
        iu.stop_on_signals()
    trainer = make_trainer(args, towers)
    launch_train_with_config(config, trainer)
    if iu.stop_requested():
        raise KeyboardInterrupt(iu.stop_requested())
    if getattr(trainer, 'lost', None):
        raise WorkerLost(trainer.lost)
    if run.watchdog is not None and run.watchdog.error:
        raise TrainingStopped(run.watchdog.error)
    for cb in run.callbacks:
        if isinstance(cb, iu.EpochCheckpoint) and cb.error:
            raise cb.error


def predictions_path(args):
    if args.predictions:
        return args.predictions
    return '{}.{}.predictions.json'.format(args.load, os.path.basename(os.path.normpath(args.data)))


def write_json_atomic(path, obj):
    write_atomic(path, json.dumps(obj, allow_nan=False))


def check_evaluated(args, meta, files, undecodable, prob):
    """Refuses results that are not predictions: no image decoded, or probabilities that are not
    finite (broken weights); warns about the images predicted on a black image."""
    list_path = meta.list_path('val')
    if len(files) and len(undecodable) == len(files):
        raise wd.DataError('{}: none of its {:,} images could be decoded; nothing written'.format(list_path, len(files)))
    if undecodable:
        logger.warn('{:,} of {:,} images in {} could not be decoded and were predicted on a black image'.format(
            len(undecodable), len(files), list_path))
    bad = int((~np.isfinite(prob).all(axis=1)).sum())
    if bad:
        raise iu.WeightsError('{}: {:,} of {:,} images got probabilities that are not finite (NaN or infinity): '
                              'its weights are broken (a diverged run?); nothing written'.format(
                                  args.load, bad, len(files)))


def evaluate(args, towers):
    args.load = iu.resolve_checkpoint(args.load)
    path = predictions_path(args)
    check_writable(path, '--predictions')
    meta = wd.WebVisionMeta(args.data)
    meta.check_complete(['val'], fmt=args.format)
    files = meta.file_list('val')
    model = make_model(args, meta.num_classes)
    ds = wd.get_eval_dataflow(args.data, 'val', 64 * towers, image_decoder(args, False),
                              parallel=workers(args), with_index=True, fmt=args.format)
    top5, prob, labels, _ = iu.predict_dataflow(model, iu.WeightLoader(args.load, strict=True), ds,
                                                session_creator(args), towers)
    check_evaluated(args, meta, files, ds.undecodable, prob)
    # A test list gives every image the label 0: the labels are withheld, not all class 0.
    known = meta.num_classes > 1 and bool(labels.any())
    records = [{'file': files.name(i), 'label': int(labels[i]) if known else None,
                'top5': top5[i].tolist(), 'prob': [round(float(p), 6) for p in prob[i]]}
               for i in range(len(files))]
    write_json_atomic(path, records)
    print('Wrote {} predictions to {}'.format(len(records), path))
    if not known:
        print('All labels are 0: a test list without labels, so no errors are computed.')
        return 0
    errors = iu.error_rates(*iu.wrong_from_topk(top5, labels), labels, meta.num_classes)
    for name in ('Top1', 'Top5', 'Balanced Top1', 'Balanced Top5'):
        print('{} Error: {:.4f}'.format(name, errors[name]))
    return 0


IMAGENET_NAMES = os.path.join(HERE, 'utils', 'imagenet1k_synset_words.txt')


def class_names(num_classes, data):
    """'synset name' per class: from --data's meta when its class count matches, else ImageNet's
    for 1,000 classes, else the class number."""
    if data:
        meta = wd.WebVisionMeta(data)
        if meta.num_classes == num_classes:
            names = meta.names()
            return ['{} {}'.format(s, names[s]) if names[s] != s else s for s in meta.synsets]
        logger.warn('{} has {} classes but the model {}; not using its names'.format(
            data, meta.num_classes, num_classes))
    if num_classes == 1000:
        with open(IMAGENET_NAMES) as f:
            return [line.strip() for line in f if line.strip()]
    return ['class {}'.format(c) for c in range(num_classes)]


def logs_to_stderr():
    """tensorpack logs to stdout; --predict keeps stdout for its results."""
    for handler in logger._logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def predict(args):
    logs_to_stderr()
    num_classes = iu.read_num_classes(args.load)
    names = class_names(num_classes, args.data)
    decode = image_decoder(args, False)
    model = make_model(args, num_classes)
    pred = iu.inference_predictor(PredictConfig(
        model=model, session_init=iu.WeightLoader(args.load, strict=True), session_creator=session_creator(args),
        input_names=['input'], output_names=['top5-prob', 'top5']))
    failed = 0
    for path in args.predict:
        im, reason = wd.decode_image(path, decode)
        if im is None:
            print('{}: cannot predict: {}'.format(path, reason), file=sys.stderr)
            failed += 1
            continue
        prob, ids = pred(im[None])
        print(path)
        for p, c in zip(prob[0], ids[0]):
            print('{:.2f} - {!r}'.format(p, names[c]))
    return 1 if failed else 0


def export(args):
    """SavedModel and ONNX of the inference graph, channels-last so that they run anywhere."""
    import tf2onnx
    args.data_format = 'NHWC'
    model = make_model(args, iu.read_num_classes(args.load))
    config = PredictConfig(model=model, session_init=iu.WeightLoader(args.load, strict=True),
                           input_names=['input'], output_names=['prob'])
    os.makedirs(args.export, exist_ok=True)
    saved, onnx_path = os.path.join(args.export, 'saved_model'), os.path.join(args.export, 'model.onnx')
    tmp = os.path.join(args.export, '.saved_model.tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    frozen = iu.frozen_inference_graph(config)
    if frozen is None:
        raise UsageError('--export: the weights of {} exceed {:.2f} GB: too large for one GraphDef (a protobuf, at most 2 GB)'.format(
            args.load, iu.FREEZE_LIMIT_BYTES / 2 ** 30))
    iu.write_saved_model(frozen, tmp)
    if os.path.exists(saved):
        shutil.rmtree(saved)
    os.replace(tmp, saved)
    tf2onnx.convert.from_graph_def(frozen, input_names=['input:0'], output_names=['prob:0'], opset=17,
                                   output_path=onnx_path + '.tmp')
    os.replace(onnx_path + '.tmp', onnx_path)
    print('Wrote {} and {} (input "input": uint8 BGR [N, {s}, {s}, 3]; output "prob")'.format(
        saved, onnx_path, s=args.image_size))
    return 0


def main(args):
    towers = check_args(args)
    if args.gpu:
        # Before TensorFlow first touches a device (importing it does not).
        os.environ['CUDA_VISIBLE_DEVICES'] = args.gpu
    if args.predict:
        return predict(args)
    if args.export:
        return export(args)
    if args.data is None and not args.fake:
        from utils.make_demo_data import build_demo
        args.data = build_demo()[0]
    args.logdir = args.logdir or default_logdir(args, args.data)
    if args.eval:
        return evaluate(args, towers)
    train(args, towers)
    return 0


# Errors in what the user gave (data, lists, weights, paths), reported in one line; anything else
# is a bug and keeps its traceback.
INPUT_ERRORS = (wd.DataError, InputError, iu.WeightsError, iu.CheckpointError, TrainingStopped, ClusterError,
                FileNotFoundError, NotADirectoryError, PermissionError)


def run():
    parser = get_args_parser()
    args = parser.parse_args()
    try:
        code = main(args)
    except UsageError as e:
        parser.error(str(e))            # exits 2 before any TensorFlow session exists
    except KeyboardInterrupt as e:
        code = iu.STOP_EXIT_CODES.get(str(e), 130)
    except INPUT_ERRORS as e:
        if args.debug:
            traceback.print_exc()
        print('error: {}'.format(e), file=sys.stderr, flush=True)
        code = 1
    except Exception:
        traceback.print_exc()
        code = 1
    tfcompat.exit_process(code)


if __name__ == '__main__':
    run()
