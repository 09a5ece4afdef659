"""Training a run (webvision.model.run.Run): resume or start, its inputs and callbacks, the trainer."""
import functools
import os

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
from tensorpack import QueueInput, TrainConfig, launch_train_with_config, logger

from webvision.core import config
from webvision.core.constants import HEAD_PREFIX
from webvision.data.bad_images import bad_log_path
from webvision.data.transform import write_record
from webvision.dataflow import dataset as wd
from webvision.model.run import image_decoder, make_model, session_creator
from webvision.runtime import signals
from webvision.train import callbacks, training
from webvision.train.ema import WeightAverage
from webvision.weights import checkpoints as ckpt


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
                                       warmup_lr=a.warmup_lr, kind=a.lr_schedule)) + watchers
    if a.sample_loss:
        cbs.append(callbacks.SampleLosses(run.logdir, len(meta.file_list('train', source)), run.steps_per_epoch,
                                          task=run.shard and run.shard[0]))
    if not a.no_val:
        val = wd.get_eval_dataflow(run.data, 'val', run.per_tower, image_decoder(run, False),
                                   parallel=min(run.workers, 4), fmt=a.format, with_index=a.sample_loss)
        cbs.append(training.validation_callback(val, meta.num_classes, run.towers, average, run.on_gpu))
    return meta.num_classes, data, cbs


def train(run):
    """Trains to --epochs (resuming where the logdir's checkpoints end); the exit status."""
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
    train_config = TrainConfig(model=make_model(run, num_classes), data=data, callbacks=cbs,
                               session_creator=session_creator(run), session_init=session_init,
                               starting_epoch=first_epoch, steps_per_epoch=run.steps_per_epoch, max_epoch=a.epochs)
    if not a.fake:
        signals.stop_on_signals()
    trainer = training.make_trainer(run.towers, run.cluster, a.collective_timeout,
                                    functools.partial(ckpt.resume_hint, run.logdir, run.is_chief))
    launch_train_with_config(train_config, trainer)
    training.raise_why_stopped(trainer, cbs)
    return 0
