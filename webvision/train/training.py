"""Assembling a tensorpack training run: the callbacks every run has, the watchdogs on its input,
the trainer for its devices, and why it stopped early."""
import sys

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
from tensorpack import QueueInput, SimpleTrainer, SyncMultiGPUTrainerReplicated
from tensorpack.callbacks import DataParallelInferenceRunner, EstimatedTimeLeft, InferenceRunner

from webvision.train import callbacks
from webvision.weights import checkpoints
from webvision.runtime import signals, tfcompat
from webvision.data.bad_images import BAD_IMAGES_EXIT, BadImageGuard, BadImageLog
from webvision.train.distributed import CollectiveAllReduceTrainer, WorkerLost
from webvision.train.ema import AveragedValidation
from webvision.train.schedule import LearningRateSchedule


class TrainingStopped(RuntimeError):
    """Training stopped for a reason outside the program (its loaders, its data); the message says which."""


def epoch_callbacks(*, logdir, steps_per_epoch, keep, schedule, bad_log_path, average=None):
    """Stopping on signals, a checkpoint per epoch (``keep`` of them), finishing an interrupted
    epoch, the learning-rate ``schedule`` (webvision.train.schedule.learning_rate_at's keywords), the count of
    bad images and the time left; ``average`` (webvision.train.ema.WeightAverage) comes first, so that its
    variables exist when the checkpoint's saver is built."""
    return [average] * bool(average) + [
        signals.StopOnSignal(),
        checkpoints.EpochCheckpoint(steps_per_epoch, max_to_keep=keep, checkpoint_dir=logdir),
        callbacks.FinishInterruptedEpoch(),
        LearningRateSchedule(steps_per_epoch=steps_per_epoch, **schedule),
        callbacks.BadImageReport(BadImageLog(bad_log_path)),
        EstimatedTimeLeft(),
    ]


def validation_callback(flow, num_classes, towers, average=None, on_gpu=True):
    """The four validation errors on ``flow`` after every epoch, split across ``towers``; with
    ``average`` (webvision.train.ema.WeightAverage) also those of the averaged weights."""
    infs = [callbacks.ValidationErrors(num_classes)]
    if towers == 1:
        runner = InferenceRunner(QueueInput(flow), infs, device=0 if on_gpu else -1)
    else:
        runner = DataParallelInferenceRunner(flow, infs, list(range(towers)))
    return AveragedValidation(runner, infs, average) if average else runner


def watched_input(flow, max_bad_fraction, bad_log_path):
    """(QueueInput of ``flow``, [LoaderWatchdog, InputMonitor]): a loader that dies, or stops
    because too many images failed, ends the run with a message naming why."""
    counted = callbacks.CountedFlow(flow)
    data = QueueInput(counted)
    too_many_bad = BadImageGuard.message(None, None, max_bad_fraction, bad_log_path)
    watchdog = callbacks.LoaderWatchdog(lambda: tfcompat.loader_processes(flow), data,
                                        reasons={BAD_IMAGES_EXIT: too_many_bad})
    return data, [watchdog, callbacks.InputMonitor(data, counted)]


def make_trainer(towers, cluster=None, collective_timeout=None, resume_hint=''):
    """Collective all-reduce across machines (a lost worker ends the process: end_process), replicated
    towers on one, or a plain trainer."""
    if cluster:
        return CollectiveAllReduceTrainer(cluster, collective_timeout, resume_hint, on_lost=end_process)
    if towers == 1:
        return SimpleTrainer()
    # NCCL all-reduce on GPUs; without any (e.g. tests), towers fall back to the CPU and so must the reduction
    return SyncMultiGPUTrainerReplicated(towers, mode='nccl' if tfcompat.is_gpu_available() else 'cpu')


def end_process(message):
    """Ends a worker that lost another, at once, with its one line. TensorFlow has just aborted the
    step's collectives; what tensorpack does next (after-train callbacks, closing a session with RPCs
    to the lost peer pending, freeing the graph and the loaders' sockets) is teardown that nothing
    needs: no checkpoint is written at this point, by design (the workers may disagree), and the
    rerun resumes from the last one. Skipping it means no teardown can hang or abort the process
    (a chief once died with SIGABRT on this path, on a loaded machine)."""
    from webvision.core.process import exit_process
    print('error: {}'.format(message), file=sys.stderr, flush=True)
    tfcompat.abandon_loaders()
    exit_process(1)


def raise_why_stopped(trainer, run_callbacks):
    """After training returned: raises what stopped it early (a signal, a lost worker, a dead
    loader, a failed checkpoint), if anything did."""
    if signals.stop_requested():
        raise KeyboardInterrupt(signals.stop_requested())
    if getattr(trainer, 'lost', None):
        raise WorkerLost(trainer.lost)
    for cb in run_callbacks:
        if isinstance(cb, callbacks.LoaderWatchdog) and cb.error:
            raise TrainingStopped(cb.error)
    for cb in run_callbacks:
        if isinstance(cb, checkpoints.EpochCheckpoint) and cb.error:
            raise cb.error
