"""Checkpoints: saving one per epoch, finding the newest, resuming a run exactly, and reading
weights (TF checkpoints and .npz) into a model.

Names: LOGDIR/model-<global step>.{index,data-*}; the step says where a resumed run goes on.
"""
import contextlib
import glob
import os
import re
import shutil
import zipfile

import numpy as np

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorpack.callbacks import ModelSaver
from tensorpack.tfutils.sessinit import SaverRestore, SessionInit
from tensorpack.utils import logger

from webvision.core.constants import EMA_SUFFIX
from webvision.core.errors import InputError, WeightsError
from webvision.core.fileio import atomic_path, check_input
from webvision.runtime.session import load_values
from webvision.runtime.signals import checkpoint_being_written, stop_requested
from webvision.results.stats import trim_stats
from webvision.data.transform import NPZ_KEY
from webvision.model.archs import PADDINGS

PADDING_KEY = '__padding__'     # in a converted .npz: the graph's padding its weights need (uint8 bytes)


def checkpoint_step(ckpt):
    """The global step of a checkpoint prefix model-N."""
    return int(ckpt.rsplit('-', 1)[1])


def epoch_after(ckpt, steps_per_epoch):
    """The epoch a run resumed from this checkpoint starts (or goes on) with."""
    return checkpoint_step(ckpt) // steps_per_epoch + 1


class EpochCheckpoint(ModelSaver):
    """Checkpoints each epoch after its statistics (validation, stats.json) are written, i.e. at
    the start of the next epoch or the end of training; tensorpack's ModelSaver writes before them.
    A run killed in between resumes from the previous checkpoint and drops the newer statistics,
    so stats.json stays one continuous history. A run stopped by SIGTERM or Ctrl-C (webvision.runtime.signals)
    is checkpointed where it stopped, mid-epoch; one stopped by an error is not,
    so that a broken state (say NaN weights) never becomes the newest checkpoint."""

    def __init__(self, steps_per_epoch, **kwargs):
        super().__init__(**kwargs)
        self.steps_per_epoch = steps_per_epoch
        self.error = None

    def _before_train(self):
        super()._before_train()
        self._saved_step = self.global_step

    def _trigger_epoch(self):
        pass

    def _before_epoch(self):
        self._save_if_new()

    def _after_train(self):
        self._save_if_new(anywhere=stop_requested() is not None)

    def _save_if_new(self, anywhere=False):
        step = self.global_step
        if step != self._saved_step and (anywhere or step % self.steps_per_epoch == 0):
            self._trigger()
            self._saved_step = step

    def _trigger(self):
        # tensorpack's ModelSaver logs a failed save and trains on: a full disk would go unnoticed
        # for days, each epoch lost. Stop instead, with the last good checkpoint named.
        step = self.global_step
        try:
            with checkpoint_being_written():
                self.saver.save(tf.compat.v1.get_default_session(), self.path,
                                global_step=tf.compat.v1.train.get_global_step(), write_meta_graph=False)
        except (OSError, tf.errors.OpError) as e:
            for partial in glob.glob('{}-{}.*'.format(self.path, step)) + glob.glob('{}-{}_temp*'.format(self.path, step)):
                shutil.rmtree(partial, ignore_errors=True) if os.path.isdir(partial) else os.remove(partial)
            previous = latest_checkpoint(self.checkpoint_dir)
            # kept, because tensorpack only prints what after_train raises; the driver re-raises it
            self.error = CheckpointError('could not write checkpoint {}-{} ({}); is the disk full? {}'.format(
                self.path, step, getattr(e, 'message', None) or e,
                'The previous checkpoint {} is intact: free some space and rerun the same command to resume '
                'from it.'.format(previous) if previous else 'There is no earlier checkpoint.'))
            raise self.error from None
        logger.info('Model saved to {}-{}.'.format(self.path, step))


class CheckpointError(RuntimeError):
    """A checkpoint could not be written (a full disk); the message names the last good one."""


def model_variables():
    """Weights and batch-norm statistics: what a pretrained model carries (no optimizer state,
    no global step, no learning rate). On TF 2.21 tensorpack's BN statistics (``.../EMA``) are no
    longer in the MODEL_VARIABLES collection, so they are also picked by name."""
    v1 = tf.compat.v1
    trainable = {v.op.name for v in v1.trainable_variables()}
    listed = {v.op.name for v in v1.get_collection(v1.GraphKeys.MODEL_VARIABLES)}
    return [v for v in v1.global_variables()
            if v.op.name in trainable or v.op.name in listed or v.op.name.endswith('/EMA')]


def latest_checkpoint(folder):
    """The newest complete checkpoint in a folder, by its files rather than the ``checkpoint``
    state file: a run killed after TF wrote model-N (index last) but before it updated that file
    would otherwise resume from an older one, or from scratch."""
    steps = []
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        m = re.match(r'^model-(\d+)\.index$', name)
        prefix = os.path.join(folder, name[:-len('.index')])
        if m and glob.glob(glob.escape(prefix) + '.data-*'):
            steps.append((int(m.group(1)), prefix))
    return max(steps)[1] if steps else tf.train.latest_checkpoint(folder)


def resolve_checkpoint(path):
    """A checkpoint prefix from a prefix, its .index file, a directory (its newest) or an .npz."""
    if path.endswith('.npz'):
        try:
            check_input(path)           # a FIFO or a device is named as such, never opened
        except InputError as e:
            raise WeightsError(str(e)) from None
        return path
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise WeightsError('{}: no checkpoint in this directory'.format(path))
        return latest
    if path.endswith('.index'):
        path = path[:-len('.index')]
    if not os.path.isfile(path + '.index'):
        raise WeightsError('{}: not a checkpoint (no {}.index) nor an .npz file'.format(path, path))
    return path


def checkpoint_files(prefix):
    """The files of a resolved checkpoint: the .npz, or PREFIX.index and PREFIX.data-* (inputs that
    no output may replace)."""
    if prefix.endswith('.npz'):
        return [prefix]
    return [prefix + '.index'] + sorted(glob.glob(glob.escape(prefix) + '.data-*'))


@contextlib.contextmanager
def _readable(path):
    """Turns what numpy, zipfile and TensorFlow raise on a damaged file into a WeightsError."""
    try:
        yield
    except WeightsError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, tf.errors.OpError) as e:
        reason = (getattr(e, 'message', None) or str(e)).strip() or type(e).__name__
        raise WeightsError('{}: cannot be read as weights ({}); is it damaged or cut short?'.format(
            path, reason.splitlines()[0])) from None


def read_weights(path):
    """name -> array from a TF checkpoint (prefix, .index file or directory) or an .npz."""
    path = resolve_checkpoint(path)
    with _readable(path):
        if path.endswith('.npz'):
            with np.load(path, allow_pickle=False) as f:
                return {k[:-2] if k.endswith(':0') else k: f[k] for k in f.files if k not in (NPZ_KEY, PADDING_KEY)}
        reader = tf.train.load_checkpoint(path)
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def read_num_classes(path):
    """The class count of a checkpoint or .npz, from its head (linear/b), without loading the rest."""
    path = resolve_checkpoint(path)
    with _readable(path):
        if path.endswith('.npz'):
            with np.load(path, allow_pickle=False) as f:
                key = next((k for k in ('linear/b', 'linear/b:0') if k in f.files), None)
                shape = f[key].shape if key else None
        else:
            shape = tf.train.load_checkpoint(path).get_variable_to_shape_map().get('linear/b')
    if not shape:
        raise WeightsError('{}: no classifier head (linear/b) in it'.format(path))
    return int(shape[0])


def padding_entry(padding):
    """{PADDING_KEY: the name as uint8 bytes}, to save in an .npz whose weights need that padding."""
    return {PADDING_KEY: np.frombuffer(padding.encode('ascii'), np.uint8)}


def npz_padding(path):
    """The padding recorded in a converted .npz (symmetric, PyTorch's, when none is)."""
    with _readable(path), np.load(path, allow_pickle=False) as f:
        if PADDING_KEY not in f.files:
            return 'symmetric'
        raw = f[PADDING_KEY]
        value = (raw.tobytes().decode('ascii', 'replace') if raw.dtype == np.uint8 and raw.size <= 32
                 else 'an array of {} x {}'.format(raw.size, raw.dtype))
    if value not in PADDINGS:
        raise WeightsError('{}: {} = {!r}: expected one of {}'.format(path, PADDING_KEY, value, ', '.join(PADDINGS)))
    return value


def is_tensorpack_resnet(path):
    """Whether a TF checkpoint holds tensorpack's ResNet example names (conv0/W, group0/block0/...,
    linear/W), which this toolkit's graphs keep."""
    with _readable(path):
        names = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    return {'conv0/W', 'group0/block0/conv1/W', 'linear/W'} <= set(names)


def has_average(path):
    """Whether a checkpoint or .npz keeps moving averages of its weights (--ema), by its names only."""
    path = resolve_checkpoint(path)
    with _readable(path):
        if path.endswith('.npz'):
            with np.load(path, allow_pickle=False) as f:
                names = f.files
        else:
            names = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    return any(EMA_SUFFIX in n for n in names)


class ResumeRestore(SaverRestore):
    """Restores a run from its checkpoint, refusing one of another model: tensorpack's SaverRestore
    only warns about variables it cannot find and trains on with them freshly initialised."""

    def _setup_graph(self):
        with _readable(self.path):
            shapes = tf.train.load_checkpoint(self.path).get_variable_to_shape_map()
        problems = []
        for v in tf.compat.v1.global_variables():
            name, shape = v.op.name, tuple(v.shape.as_list())
            if name not in shapes:
                problems.append('{}: {} in the model, not in the checkpoint'.format(name, shape))
            elif tuple(shapes[name]) != shape:
                problems.append('{}: {} in the checkpoint, {} in the model'.format(name, tuple(shapes[name]), shape))
        if problems and all(EMA_SUFFIX in p.split(':')[0] for p in problems):
            raise WeightsError('{} has no moving average of the weights, which --ema keeps: resume this run without '
                               '--ema, or start one with it in a new --logdir ({} missing)'.format(self.path, len(problems)))
        averages = [n for n in shapes if n.endswith(EMA_SUFFIX)]
        if averages and not any(v.op.name.endswith(EMA_SUFFIX) for v in tf.compat.v1.global_variables()):
            logger.warn('{} has the moving average of the weights (--ema); this run, without --ema, does not keep '
                        'it: its checkpoints will not have it'.format(self.path))
        if problems:
            raise WeightsError('{} is from another model (architecture or class count) than this run; use the same '
                             'model flags or another --logdir. {} variable(s) differ:\n  {}'.format(
                                 self.path, len(problems), '\n  '.join(problems[:10])))
        super()._setup_graph()


class WeightLoader(SessionInit):
    """Loads model variables from a checkpoint or .npz. ``strict=False`` (initialising a new run)
    skips and lists variables whose shape differs, e.g. a 1,000-class head in a 5,000-class model,
    and those the file lacks; ``strict=True`` (evaluation) fails on either. ``averaged``: take each
    variable's moving average (kept by --ema) where the file has it."""

    def __init__(self, path, strict=False, drop=None, averaged=False):
        self.path, self.strict, self.drop, self.averaged = path, strict, drop and re.compile(drop), averaged

    def _run_init(self, sess):
        weights = read_weights(self.path)
        mismatched, missing, loaded, averages = [], [], [], 0
        for var in model_variables():
            name = var.op.name
            if self.drop and self.drop.match(name):
                logger.info('Dropped {} (left at its initial value)'.format(name))
                continue
            if self.averaged and name + EMA_SUFFIX in weights:
                name, averages = name + EMA_SUFFIX, averages + 1
            if name not in weights:
                missing.append(name)
                continue
            value, shape = weights[name], tuple(var.shape.as_list())
            if value.shape != shape:
                mismatched.append('{}: {} in {} but {} in the model'.format(name, value.shape, self.path, shape))
                continue
            loaded.append((var, value.astype(var.dtype.as_numpy_dtype, copy=False)))
        if self.strict and (mismatched or missing):
            raise WeightsError('{} does not fit this model (another architecture or class count?):\n  {}'.format(
                self.path, '\n  '.join(mismatched + ['{}: missing from the file'.format(m) for m in missing[:20]])))
        if not loaded:
            raise WeightsError('{}: none of the model\'s variables were found in it'.format(self.path))
        for m in mismatched:
            logger.warn('Skipped (shape differs) ' + m)
        for name in missing:
            logger.warn('Not in {}, left at its initial value: {}'.format(self.path, name))
        load_values(sess, *zip(*loaded))
        logger.info('Loaded {} variables from {}{}'.format(len(loaded), self.path, ', {} of them moving averages (--ema; '
                                                           '--no-ema for the raw weights)'.format(averages) if averages else ''))


def write_npz(path, weights):
    """name -> array as an uncompressed .npz (zip64 past 4 GB; read_weights reads it), complete or absent."""
    with atomic_path(path, suffix='.npz') as tmp, open(tmp, 'wb') as f:
        np.savez(f, **weights)


def resume_point(logdir, steps_per_epoch):
    """(ResumeRestore, starting epoch) from the newest checkpoint in ``logdir``, or (None, 1). The
    statistics of epochs after it are dropped, so that stats.json stays one history."""
    latest = latest_checkpoint(logdir)
    if latest is None:
        return None, 1
    epoch = epoch_after(latest, steps_per_epoch)
    logger.info('Resuming from {}: global step {}, epoch {}'.format(latest, checkpoint_step(latest), epoch))
    dropped = trim_stats(logdir, epoch - 1)
    if dropped:
        logger.info('stats.json: dropped {} entries after epoch {}'.format(dropped, epoch - 1))
    return ResumeRestore(latest), epoch


def resume_hint(logdir, is_chief):
    """How to go on after a worker of a multi-machine run was lost, for the error message."""
    if is_chief:
        latest = latest_checkpoint(logdir)
        where = 'from {}'.format(latest) if latest else 'from the start (no checkpoint yet)'
    else:
        where = 'from the chief\'s newest checkpoint in its --logdir'
    return 'rerun the same command on every worker to resume {}'.format(where)


def run_weights(run, **kwargs):
    """The --load weights of a run for evaluation, prediction and export: their moving average
    where the checkpoint keeps one (unless --no-ema)."""
    return WeightLoader(run.args.load, strict=True, averaged=not run.args.no_ema, **kwargs)
