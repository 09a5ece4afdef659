"""The learning-rate schedule: a pure function of the global step, and the callback that sets it."""
import math

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
from tensorpack.callbacks import HyperParamSetter


def learning_rate_at(step, base_lr, steps_per_epoch, epochs, warmup_epochs=3.,
                     decay_at=(30 / 110, 60 / 110, 90 / 110), kind='step'):
    """The learning rate before step ``step``: a linear warm-up from 0.1 when ``base_lr`` exceeds
    it (Goyal et al.), then 10x drops at fixed fractions of the run (``kind`` step) or half a
    cosine from ``base_lr`` to zero at the last step (cosine, Loshchilov & Hutter's SGDR without
    restarts). A pure function of the step, so a resumed run continues the same schedule."""
    epoch = step / float(steps_per_epoch)
    warmup = warmup_epochs if base_lr > 0.1 else 0.
    if epoch < warmup:
        return 0.1 + (base_lr - 0.1) * epoch / warmup_epochs
    if kind == 'cosine':
        done = (epoch - warmup) / max(epochs - warmup, 1e-9)
        return base_lr * 0.5 * (1. + math.cos(math.pi * min(done, 1.)))
    drops = sum(step >= int(round(f * epochs)) * steps_per_epoch for f in decay_at)
    return base_lr * 0.1 ** drops


class LearningRateSchedule(HyperParamSetter):
    """Sets ``learning_rate`` from the global step before training and after every step in which
    the schedule changes it."""

    def __init__(self, **schedule):
        super().__init__('learning_rate')
        self.schedule = schedule

    def _get_value_to_set(self):
        return learning_rate_at(self.global_step, **self.schedule)

    def _trigger_step(self):
        if learning_rate_at(self.global_step, **self.schedule) != self._last_value:
            self._set_param()
