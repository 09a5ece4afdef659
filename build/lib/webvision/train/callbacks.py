"""tensorpack callbacks of a training run: validation errors, speed, input health, interrupted epochs."""
import os
import threading
import time

import numpy as np

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorpack.callbacks import Callback, Inferencer
from tensorpack.dataflow import ProxyDataFlow
from tensorpack.utils import logger

from webvision.results import sample_loss
from webvision.core.constants import INDEX, LABEL, METRIC_KEYS, SAMPLE_LOSS, VAL_PREFIX, WRONG_TOP
from webvision.results.metric import error_rates
from webvision.runtime.signals import forget_on_stop, on_stop


class ValidationErrors(Inferencer):
    """val-error-top1/top5 and their class-balanced versions, from one validation pass."""

    def __init__(self, num_classes, prefix=VAL_PREFIX):
        self.num_classes, self.prefix = num_classes, prefix

    def _before_inference(self):
        self.wrong1, self.wrong5, self.labels = [], [], []

    def _get_fetches(self):
        return [WRONG_TOP.format(1), WRONG_TOP.format(5), LABEL]

    def _on_fetches(self, outputs):
        for store, value in zip((self.wrong1, self.wrong5, self.labels), outputs):
            store.append(value)

    def _after_inference(self):
        errs = error_rates(np.concatenate(self.wrong1), np.concatenate(self.wrong5),
                           np.concatenate(self.labels), self.num_classes)
        return {self.prefix + METRIC_KEYS[k]: v for k, v in errs.items()}


class Throughput(Callback):
    """Prints images/s at the end of training, leaving out the first steps (graph optimisation
    and warm-up)."""

    def __init__(self, batch_size, warmup_steps=1):
        self.batch_size, self.warmup_steps = batch_size, warmup_steps
        self.images_per_sec = None

    def _before_train(self):
        self._steps, self._start = 0, None

    def _trigger_step(self):
        self._steps += 1
        if self._steps == self.warmup_steps:
            self._start = time.perf_counter()

    def _after_train(self):
        timed = self._steps - self.warmup_steps
        if self._start is None or timed < 1:
            logger.warn('Throughput: {} steps run, too few to time after {} warm-up step(s)'.format(
                self._steps, self.warmup_steps))
            return
        self.images_per_sec = timed * self.batch_size / (time.perf_counter() - self._start)
        logger.info('Throughput: {:.2f} images/s ({} steps of {} images after {} warm-up)'.format(
            self.images_per_sec, timed, self.batch_size, self.warmup_steps))
        print('images/s: {:.2f}'.format(self.images_per_sec), flush=True)


class FinishInterruptedEpoch(Callback):
    """A run resumed from a mid-epoch checkpoint runs only the rest of that epoch, so that epochs
    keep their boundaries (tensorpack's loop always runs whole epochs)."""
    _chief_only = False     # every worker of a multi-machine run

    def _before_train(self):
        self.full = self.trainer.loop.steps_per_epoch
        done = self.global_step % self.full
        if done:
            logger.info('Finishing the interrupted epoch {}: {} of its {} steps are left'.format(
                self.epoch_num + 1, self.full - done, self.full))
            self.trainer.loop.steps_per_epoch = self.full - done

    def _after_epoch(self):
        self.trainer.loop.steps_per_epoch = self.full


class LoaderWatchdog(Callback):
    """Stops training with an error when a loader process dies. tensorpack's ZMQ flow would wait
    for its data forever; closing the input queue ends the blocked training step, and ``error``
    names the process, or the reason its exit status stands for in ``reasons`` (the driver exits
    with it). The same closing unblocks a run that got SIGTERM or Ctrl-C (stop_on_signals)."""
    _chief_only = False     # every worker of a multi-machine run

    def __init__(self, processes, input_source, interval=2., reasons=None):
        self.processes, self.input, self.interval = processes, input_source, interval
        self.reasons = reasons or {}
        self.error = None

    def _before_train(self):
        self._stop = threading.Event()
        on_stop(self.close_input)
        threading.Thread(target=self._watch, name='loader-watchdog', daemon=True).start()

    def close_input(self):
        self.input.thread.close_op.run(session=self.trainer.sess)

    def _watch(self):
        while not self._stop.wait(self.interval):
            dead = [p for p in self.processes() if not p.is_alive()]
            if dead:
                p = dead[0]
                self.error = self.reasons.get(p.exitcode) or 'loader process {} (pid {}) died with exit code {}; ' \
                    'stopping training'.format(p.name, p.pid, p.exitcode)
                logger.error(self.error)
                self.close_input()
                return

    def _after_train(self):
        self._stop.set()
        forget_on_stop(self.close_input)


class InputMonitor(Callback):
    """Each epoch: the images/s the loaders delivered and how full the input queue was on average,
    in the log and stats.json (input/images_per_sec, input/queue_fill). A queue that runs near empty
    means the data, not the model, limits the run."""
    _chief_only = False

    def __init__(self, queue_input, counted_flow, capacity=50):
        self.queue_input, self.flow, self.capacity = queue_input, counted_flow, capacity

    def _setup_graph(self):
        self._size = self.queue_input.queue.size()

    def _before_train(self):
        self._mark()

    def _mark(self):
        self._images, self._time, self._fill = self.flow.images, time.time(), []

    def _before_run(self, _):
        return tf.compat.v1.train.SessionRunArgs(fetches=self._size)

    def _after_run(self, _, values):
        self._fill.append(values.results)

    def _trigger_epoch(self):
        rate = (self.flow.images - self._images) / max(time.time() - self._time, 1e-9)
        fill = float(np.mean(self._fill)) if self._fill else 0.
        self.trainer.monitors.put_scalar('input/images_per_sec', rate)
        self.trainer.monitors.put_scalar('input/queue_fill', fill)
        logger.info('input: the loaders delivered {:,.0f} images/s; the queue held {:.1f} of {} batches on '
                    'average{}'.format(rate, fill, self.capacity,
                                       ' (mostly empty: data loading limits this run)' if fill < 0.2 * self.capacity else ''))
        self._mark()


class CountedFlow(ProxyDataFlow):
    """Counts the images of the batches that pass (for InputMonitor)."""

    def __init__(self, ds):
        super().__init__(ds)
        self.images = 0

    def __iter__(self):
        for dp in self.ds:
            self.images += len(dp[0])
            yield dp


class BadImageReport(Callback):
    """At each epoch's end: how many images could not be decoded so far, and where they are listed."""
    _chief_only = False     # every worker of a multi-machine run

    def __init__(self, bad_log):
        self.bad_log = bad_log

    def _trigger_epoch(self):
        n = self.bad_log.count()
        self.trainer.monitors.put_scalar('bad-images', n)
        if n:
            logger.warn('{} undecodable image(s) skipped so far; listed in {}'.format(n, self.bad_log.path))


class SampleLosses(Callback):
    """--sample-loss: each training image's loss, from the steps themselves (fetched with the
    training op), written at the end of every epoch (webvision.results.sample_loss). The files follow the
    checkpoints: an epoch's .partial.npy (what a run stopped mid-epoch had seen) is removed only
    once the checkpoint at that epoch's end exists, so a run killed after writing epoch-N.npy but
    before that checkpoint resumes mid-epoch with its partial losses still there. It comes after
    EpochCheckpoint in the callbacks, which saves at the start of the next epoch and at the end."""
    _chief_only = False     # every worker writes its share

    def __init__(self, logdir, count, steps_per_epoch, task=None):
        self.logdir, self.count, self.steps_per_epoch, self.task = logdir, count, steps_per_epoch, task

    def _setup_graph(self):
        self.fetches = [t.get_tensor(name) for t in self.trainer.towers.training() for name in (INDEX, SAMPLE_LOSS)]

    def _before_train(self):
        self.losses = np.full(self.count, np.nan, np.float32)
        partial = sample_loss.epoch_path(self.logdir, self.epoch_num + 1, self.task, partial=True)
        if os.path.isfile(partial) and self.global_step % self.steps_per_epoch:
            self.losses[:] = sample_loss.read_losses([partial], self.count)

    def _before_run(self, _):
        return tf.compat.v1.train.SessionRunArgs(fetches=self.fetches)

    def _after_run(self, _, values):
        out = values.results
        for index, loss in zip(out[::2], out[1::2]):       # one pair per tower
            self.losses[index] = loss

    def _trigger_epoch(self):
        sample_loss.write_losses(sample_loss.epoch_path(self.logdir, self.epoch_num, self.task), self.losses)
        self.losses[:] = np.nan

    def _before_epoch(self):
        self._drop_partial(self.epoch_num - 1)      # its checkpoint was just saved

    def _after_train(self):
        if self.global_step % self.steps_per_epoch:     # stopped mid-epoch: keep what it saw
            sample_loss.write_losses(
                sample_loss.epoch_path(self.logdir, self.epoch_num, self.task, partial=True), self.losses)
        else:
            self._drop_partial(self.epoch_num)

    def _drop_partial(self, epoch):
        partial = sample_loss.epoch_path(self.logdir, epoch, self.task, partial=True)
        if epoch > 0 and os.path.isfile(partial):
            os.remove(partial)
