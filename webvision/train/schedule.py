"""The callback that sets the learning rate of webvision.train.lr.learning_rate_at."""
import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
from tensorpack.callbacks import HyperParamSetter

from webvision.train.lr import learning_rate_at


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
