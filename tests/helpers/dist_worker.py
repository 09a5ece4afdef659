"""Helper of test_distributed.py, run as its own process: trains a small ResNet for a few steps and
writes its trainable variables after the broadcast (step 0) and after every step.

  worker:     dist_worker.py --out DIR --hosts H:P,H:P --task-index I
              (CollectiveAllReduceTrainer; worker I trains on the half-batches of task I)
  reference:  dist_worker.py --out DIR --reference
              (one process computes the gradients of both half-batches and averages them),
              starting from worker 0's step-0 weights
"""
import argparse
import os

import numpy as np

import webvision.runtime.tfcompat  # noqa: F401
import tensorflow as tf
from tensorpack import QueueInput, TrainConfig
from tensorpack import launch_train_with_config
from tensorpack.callbacks import Callback
from tensorpack.dataflow import DataFlow
from tensorpack.tfutils.sesscreate import NewSessionCreator
from tensorpack.tfutils.tower import TrainTowerContext

from webvision.train.distributed import Cluster, CollectiveAllReduceTrainer
from webvision.core.process import exit_process
from webvision.runtime.session import session_config
from webvision.model.resnet import ResNetModel

STEPS, HALF, SIZE, CLASSES = 3, 4, 32, 4


def half_batch(step, task):
    rng = np.random.RandomState(1000 * step + task)
    return [rng.randint(0, 256, (HALF, SIZE, SIZE, 3)).astype(np.uint8), rng.randint(0, CLASSES, HALF).astype(np.int32)]


class HalfBatches(DataFlow):
    """Worker ``task``'s half of each step, or (tasks=None) both halves one after the other."""

    def __init__(self, task=None):
        self.task = task

    def __iter__(self):
        for step in range(100):
            for task in ([self.task] if self.task is not None else [0, 1]):
                yield half_batch(step, task)


class DumpTrainables(Callback):
    _chief_only = False

    def __init__(self, out, name):
        self.out, self.name = out, name

    def _setup_graph(self):
        self.vars = [v for v in tf.compat.v1.trainable_variables() if not v.name.startswith('tower')]

    def _dump(self, step):
        values = self.trainer.sess.run(self.vars)
        np.savez(os.path.join(self.out, '{}-step{}.npz'.format(self.name, step)),
                 **{v.name: x for v, x in zip(self.vars, values)})

    def _before_train(self):
        self._dump(0)

    def _trigger_step(self):
        self._dump(self.global_step)


def reference(model, out):
    """One process: the gradients of the two half-batches of each step, averaged, then applied."""
    weights = np.load(os.path.join(out, 'worker0-step0.npz'), allow_pickle=False)
    image = tf.compat.v1.placeholder(tf.uint8, [None, SIZE, SIZE, 3])
    label = tf.compat.v1.placeholder(tf.int32, [None])
    with TrainTowerContext(''):
        cost = model.build_graph(image, label)
    opt = model.optimizer()
    variables = tf.compat.v1.trainable_variables()
    grads = [g for g, _ in opt.compute_gradients(cost, var_list=variables)]
    fed = [tf.compat.v1.placeholder(g.dtype, g.shape) for g in grads]
    train_op = opt.apply_gradients(list(zip(fed, variables)))
    with tf.compat.v1.Session(config=session_config()) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for v in variables:
            v.load(weights[v.name], sess)

        def dump(step):
            np.savez(os.path.join(out, 'reference-step{}.npz'.format(step)),
                     **{v.name: x for v, x in zip(variables, sess.run(variables))})
        dump(0)
        for step in range(STEPS):
            halves = [sess.run(grads, {image: x, label: y}) for x, y in (half_batch(step, t) for t in (0, 1))]
            sess.run(train_op, {f: (a + b) / 2 for f, a, b in zip(fed, *halves)})
            dump(step + 1)
    exit_process(0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True)
    p.add_argument('--hosts')
    p.add_argument('--task-index', type=int)
    p.add_argument('--reference', action='store_true')
    args = p.parse_args()
    model = ResNetModel(18, 'resnet', num_classes=CLASSES, data_format='NHWC', image_size=SIZE)
    if args.reference:
        return reference(model, args.out)
    cluster = Cluster(args.hosts.split(','), args.task_index)
    tf.compat.v1.set_random_seed(args.task_index + 1)     # different initial weights, until the broadcast
    server, sess_config = cluster.start_server(session_config())
    creator = NewSessionCreator(target=server.target, config=sess_config)
    config = TrainConfig(model=model, data=QueueInput(HalfBatches(args.task_index)), session_creator=creator,
                         callbacks=[DumpTrainables(args.out, 'worker{}'.format(args.task_index))],
                         steps_per_epoch=STEPS, max_epoch=1, monitors=[])
    trainer = CollectiveAllReduceTrainer(cluster)
    launch_train_with_config(config, trainer)
    exit_process(0)


if __name__ == '__main__':
    main()
