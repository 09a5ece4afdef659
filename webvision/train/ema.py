"""A moving average of the weights and batch-norm statistics during training (--ema), kept in the
checkpoint beside them (``<name>/ExponentialMovingAverage``, TensorFlow's name), and validation with it.

The average is updated after every step, in a session run of its own, so that it always reads
the weights that step wrote. Its decay is TensorFlow's min(decay, (1 + step) / (10 + step)), a
function of the global step: a resumed run goes on with the same average."""
import contextlib
import re

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorpack.callbacks import Callback, ProxyCallback
from tensorpack.tfutils.common import get_global_step_var
from tensorpack.utils import logger

from webvision.runtime.session import load_values
from webvision.weights.checkpoints import model_variables
from webvision.core.constants import EMA_SUFFIX, VAL_PREFIX

EMA_VAL_PREFIX = VAL_PREFIX + 'ema-'
_OTHER_TOWER = re.compile(r'^tower\d+/')      # replicated copies: tower 0's variables are the model


def averaged_variables():
    """The model's variables (weights and batch-norm statistics) of its first tower."""
    return [v for v in model_variables() if not _OTHER_TOWER.match(v.op.name)]


class WeightAverage(Callback):
    """Keeps the moving average; ``swapped()`` puts it in the model's place for a while."""
    _chief_only = False

    def __init__(self, decay):
        self.decay = decay

    def _setup_graph(self):
        self.variables = averaged_variables()
        ema = tf.compat.v1.train.ExponentialMovingAverage(self.decay, num_updates=get_global_step_var())
        with tf.compat.v1.name_scope(None), tf.compat.v1.variable_scope(tf.compat.v1.VariableScope(reuse=False, name='')):
            self.update = ema.apply(self.variables)
        self.shadows = [ema.average(v) for v in self.variables]
        for v, s in zip(self.variables, self.shadows):
            assert s.op.name == v.op.name + EMA_SUFFIX, (s.op.name, v.op.name)

    def _before_train(self):
        if self.global_step == 0:
            # A new run (perhaps from --load): the average starts at the weights, not at their initialisers
            self._load(self.shadows, self.trainer.sess.run(self.variables))
            logger.info('Weight average (--ema {}) started from the initial weights'.format(self.decay))

    def _trigger_step(self):
        self.trainer.sess.run(self.update)

    def _load(self, variables, values):
        load_values(self.trainer.sess, variables, values)

    @contextlib.contextmanager
    def swapped(self):
        """The averaged weights in the model's variables, and back afterwards (also on an error)."""
        sess = self.trainer.sess
        raw, averaged = sess.run([self.variables, self.shadows])
        self._load(self.variables, averaged)
        try:
            yield
        finally:
            self._load(self.variables, raw)


class AveragedValidation(ProxyCallback):
    """Runs a validation callback twice each time: with the weights (val-*), then with their
    average (val-ema-*)."""

    def __init__(self, runner, inferencers, average):
        super().__init__(runner)
        self.inferencers, self.average = inferencers, average

    def _trigger_epoch(self):
        self._trigger()

    def _trigger(self):
        self.cb.trigger()
        prefixes = [inf.prefix for inf in self.inferencers]
        with self.average.swapped():
            for inf in self.inferencers:
                inf.prefix = EMA_VAL_PREFIX
            try:
                self.cb.trigger()
            finally:
                for inf, prefix in zip(self.inferencers, prefixes):
                    inf.prefix = prefix
