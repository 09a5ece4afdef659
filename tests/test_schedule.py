"""lib/schedule.py: the learning-rate schedule, on hand-computed cases."""
import pytest

from lib.schedule import learning_rate_at


def test_learning_rate_schedule_warmup_and_steps():
    sched = dict(base_lr=0.4, steps_per_epoch=100, epochs=110, warmup_epochs=3)
    assert learning_rate_at(0, **sched) == pytest.approx(0.1)
    assert learning_rate_at(150, **sched) == pytest.approx(0.25)     # half-way through warm-up
    assert learning_rate_at(300, **sched) == pytest.approx(0.4)
    assert learning_rate_at(2999, **sched) == pytest.approx(0.4)
    assert learning_rate_at(3000, **sched) == pytest.approx(0.04)    # epoch 30 of 110
    assert learning_rate_at(6000, **sched) == pytest.approx(0.004)
    assert learning_rate_at(9000, **sched) == pytest.approx(0.0004)
    assert learning_rate_at(10999, **sched) == pytest.approx(0.0004)


def test_no_warmup_at_or_below_0_1_and_decay_scales_with_the_run():
    sched = dict(base_lr=0.05, steps_per_epoch=10, epochs=11, warmup_epochs=3)
    assert learning_rate_at(0, **sched) == pytest.approx(0.05)
    assert learning_rate_at(29, **sched) == pytest.approx(0.05)
    assert learning_rate_at(30, **sched) == pytest.approx(0.005)     # 30/110 of 11 epochs = epoch 3
