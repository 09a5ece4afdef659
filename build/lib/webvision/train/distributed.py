# -*- coding: utf-8 -*-
# File: distributed.py
"""Training on several machines with TensorFlow's own distributed runtime: one process per
machine (each with all its GPUs as towers), a tf.compat.v1.train.Server each, gradients averaged
across machines by collective all-reduce ops (NCCL between GPUs, gRPC between machines), as a
tensorpack trainer. What else was tried, and why not, is in the README ("Many machines").

The cluster comes from --hosts/--task-index or, as for any TensorFlow job, from TF_CONFIG:
    {"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}
Task 0 is the chief: it alone writes checkpoints and logs, and its variables are broadcast to the
others when training starts (also after it resumed from a checkpoint).
"""
import re
import socket
import threading
import time

from webvision.runtime import tfcompat
import tensorflow as tf
from tensorflow.python.ops import collective_ops
from tensorpack.callbacks import Callback
from tensorpack.tfutils.common import get_global_step_var
from tensorpack.tfutils.tower import TrainTowerContext
from tensorpack.train.base import StopTraining
from tensorpack.train.tower import SingleCostTrainer
from tensorpack.utils import logger

from webvision.train.cluster import (COLLECTIVE_TIMEOUT, JOIN_TIMEOUT_FACTOR, Cluster, ClusterError,  # noqa: F401
                                    add_cluster_args)

GROUP_KEY = 1
GRADIENT_KEYS = 1000            # instance keys: one per gradient, then one per broadcast variable
BROADCAST_KEYS = 1000000
# TensorFlow's own collective timeout, as a multiple of ours (StepWatchdog fires first; see there)
TF_TIMEOUT_FACTOR = 3
# what TensorFlow raises when a peer is gone: reset connection, timeout, or cancelled collective
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
               tf.errors.AbortedError, tf.errors.InternalError, tf.errors.UnknownError)


class CollectiveAllReduceTrainer(SingleCostTrainer):
    """One tower per machine; its gradients are averaged over all machines with collective
    all-reduce before the optimizer applies them, so every machine applies the same update.
    Callbacks that are chief-only in tensorpack (checkpoints, validation, logs) run on task 0 only.
    A collective that waits more than ``timeout`` seconds for a worker fails, and so does one whose
    peer is gone: training then stops with a WorkerLost error naming the worker and the step, and
    ``resume_hint`` (a string, or a function that returns one) saying how to resume. ``on_lost``,
    if given, is called with that message instead, and is expected not to return (the driver ends
    the process there: see webvision.train.training.end_process)."""

    def __init__(self, cluster, timeout=COLLECTIVE_TIMEOUT, resume_hint='', on_lost=None):
        super().__init__()
        self.cluster, self.timeout, self.resume_hint, self.on_lost = cluster, timeout, resume_hint, on_lost
        self.is_chief = cluster.is_chief

    def _setup_graph(self, input, get_cost_fn, get_opt_fn):
        logger.info('Building the training graph, gradients all-reduced over {} workers'.format(self.cluster.size))
        # TensorFlow picks its ring (gRPC) implementation unless NCCL is asked for
        hint = 'nccl' if tfcompat.is_gpu_available() else 'auto'
        with tf.device(self.cluster.device), TrainTowerContext(''):
            # now, not when tensorpack's step counter is set up (after our callbacks): the chief's
            # global step must be among the variables BroadcastFromChief sends
            get_global_step_var()
            grads = self._make_get_grad_fn(input, get_cost_fn, get_opt_fn)()
            averaged = [(collective_ops.all_reduce(g, self.cluster.size, GROUP_KEY, GRADIENT_KEYS + k,
                                                   merge_op='Add', final_op='Div', communication_hint=hint,
                                                   timeout=self.timeout * TF_TIMEOUT_FACTOR), v)
                        for k, (g, v) in enumerate(grads)]
            opt = get_opt_fn()
            self.train_op = opt.apply_gradients(averaged, name='train_op')
        return [BroadcastFromChief(self.cluster, self.timeout * JOIN_TIMEOUT_FACTOR)]

    lost = None     # set when another worker stopped answering: the reason, for the driver to raise
    watchdog = None

    def run_step(self):
        if self.on_lost is not None and self.watchdog is None:
            self.watchdog = StepWatchdog(self.timeout, self._step_timed_out)
        if self.watchdog:
            self.watchdog.started()
        try:
            super().run_step()
        except PEER_ERRORS + (RuntimeError,) as e:
            # TensorFlow's MonitoredSession closes the session on UnavailableError and retries on the
            # closed one: what reaches us then is "Attempted to use a closed Session"
            if isinstance(e, RuntimeError) and 'closed Session' not in str(e):
                raise
            self.stop_lost(e, 'at global step {}'.format(self.loop.global_step))
        finally:
            if self.watchdog:
                self.watchdog.ended()

    def _step_timed_out(self):
        """From the watchdog's thread, while the step still waits inside TensorFlow."""
        self.stop_lost(tf.errors.DeadlineExceededError(None, None, 'step timed out'),
                       'at global step {}'.format(self.loop.global_step))

    def stop_lost(self, error, when):
        """Ends training through tensorpack's StopTraining (any other exception is logged by its
        main loop with a broken format and a traceback) and keeps the reason in ``lost``."""
        self.lost = lost_worker_message(self.cluster, error, when, self.timeout, self.resume_hint)
        logger.error(self.lost)
        if self.on_lost is not None:
            self.on_lost(self.lost)
        raise StopTraining(self.lost)


class StepWatchdog:
    """Calls ``on_timeout`` (once, from its own thread) when a step has run longer than ``timeout``
    plus the longest step seen so far (twice ``timeout`` for a process's first step, which builds its
    kernels): a worker gone quiet with its sockets open, found before TensorFlow's own collective
    timeout (TF_TIMEOUT_FACTOR x ``timeout``) fires. That one must never fire first: its abort cancels
    the step's RecvBuf calls to the quiet peer, and a cancelled call completing on a gRPC thread
    after the step's CancellationManager was freed aborts the process (absl "Mutex corrupt: both
    reader and writer lock held" on freed memory, SIGABRT), before any of our code can say why: 1 of
    8 runs of the suspended-worker test on a loaded 2-core machine, TF 2.21."""

    def __init__(self, timeout, on_timeout, poll=0.25):
        self.timeout, self.on_timeout, self.poll = timeout, on_timeout, poll
        self._start, self.longest, self.fired = None, None, False
        threading.Thread(target=self._watch, name='step-watchdog', daemon=True).start()

    def started(self):
        self._start = time.monotonic()

    def ended(self):
        if self._start is not None:
            step = time.monotonic() - self._start
            self.longest = step if self.longest is None else max(self.longest, step)
        self._start = None

    def limit(self):
        return 2 * self.timeout if self.longest is None else self.timeout + self.longest

    def _watch(self):
        while not self.fired:
            time.sleep(self.poll)
            start = self._start
            if start is not None and time.monotonic() - start > self.limit():
                self.fired = True
                self.on_timeout()


class WorkerLost(ClusterError):
    """Another worker stopped answering; the message names it, the step and where to resume."""


def unreachable_workers(cluster, wait=3., tries=3):
    """The other workers whose server does not accept a connection within ``wait`` seconds; asked
    ``tries`` times a second apart, as a process that just died may still hold its port."""
    for attempt in range(tries):
        gone = []
        for task, address in enumerate(cluster.hosts):
            if task == cluster.task_index:
                continue
            host, _, port = address.rpartition(':')
            try:
                socket.create_connection((host.strip('[]'), int(port)), timeout=wait).close()
            except OSError:
                gone.append(task)
        if gone:
            return gone
        time.sleep(1.)
    return []


def lost_worker_message(cluster, error, when, timeout, resume_hint):
    """One line for a collective that failed: which worker (those whose server no longer accepts a
    connection; else those TensorFlow's message names), when, and how to resume."""
    text = getattr(error, 'message', None) or str(error)
    tasks = unreachable_workers(cluster) or sorted(
        {int(t) for t in re.findall(r'/job:worker/replica:0/task:(\d+)', text)} - {cluster.task_index})
    if tasks:
        who = ', '.join('worker {} ({})'.format(t, cluster.hosts[t]) for t in tasks if t < cluster.size)
    elif isinstance(error, tf.errors.DeadlineExceededError):
        who = 'a worker (none answered within {:.0f} s, --collective-timeout)'.format(timeout)
    else:
        who = 'another worker'
    hint = resume_hint() if callable(resume_hint) else resume_hint
    return '{} stopped answering {} (seen by worker {} of {}); {}'.format(
        who, when, cluster.task_index, cluster.size, hint or 'rerun every worker')


class BroadcastFromChief(Callback):
    """Before the first step: every global variable (weights, batch-norm statistics, momentum,
    global step) is set to the chief's, which were initialised or restored there. Then the loop
    position of the other workers follows the chief's global step."""
    _chief_only = False

    def __init__(self, cluster, timeout=COLLECTIVE_TIMEOUT * JOIN_TIMEOUT_FACTOR):
        self.cluster, self.timeout = cluster, timeout

    def _setup_graph(self):
        ops = []
        with tf.device(self.cluster.device), tf.name_scope('broadcast_from_chief'):
            for k, v in enumerate(sorted(tf.compat.v1.global_variables(), key=lambda v: v.name)):
                shape, dtype, key = v.shape, v.dtype.base_dtype, BROADCAST_KEYS + k
                if self.cluster.is_chief:
                    ops.append(collective_ops.broadcast_send(v.read_value() if hasattr(v, 'read_value') else v,
                                                             shape, dtype, self.cluster.size, GROUP_KEY, key,
                                                             timeout=self.timeout))
                else:
                    ops.append(v.assign(collective_ops.broadcast_recv(shape, dtype, self.cluster.size, GROUP_KEY, key,
                                                                      timeout=self.timeout)))
        self._op = tf.group(*ops)

    def _before_train(self):
        try:
            self._op.run()
        except PEER_ERRORS as e:
            self.trainer.stop_lost(e, 'before the first step')
        loop = self.trainer.loop
        loop.update_global_step()
        epoch = loop.global_step // loop.steps_per_epoch + 1
        if epoch != loop.starting_epoch:
            logger.info('Following the chief: global step {}, epoch {}'.format(loop.global_step, epoch))
            loop.starting_epoch = epoch
