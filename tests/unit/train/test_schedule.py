"""webvision/train/lr.py: the learning-rate schedule, on hand-computed cases."""
import pytest

from webvision.train.lr import learning_rate_at


def test_learning_rate_schedule_warmup_and_steps():
    sched = dict(base_lr=0.4, steps_per_epoch=100, epochs=110, warmup_epochs=3, warmup_lr=0.1)
    assert learning_rate_at(0, **sched) == pytest.approx(0.1)
    assert learning_rate_at(150, **sched) == pytest.approx(0.25)     # half-way through warm-up
    assert learning_rate_at(300, **sched) == pytest.approx(0.4)
    assert learning_rate_at(2999, **sched) == pytest.approx(0.4)
    assert learning_rate_at(3000, **sched) == pytest.approx(0.04)    # epoch 30 of 110
    assert learning_rate_at(6000, **sched) == pytest.approx(0.004)
    assert learning_rate_at(9000, **sched) == pytest.approx(0.0004)
    assert learning_rate_at(10999, **sched) == pytest.approx(0.0004)


def test_the_default_warm_up_starts_from_zero_at_any_peak():
    """A batch-32 run (peak 0.0125) warms up too: the original only did above 0.1."""
    sched = dict(base_lr=0.0125, steps_per_epoch=10, epochs=15, warmup_epochs=3, kind='cosine')
    assert learning_rate_at(0, **sched) == 0.
    assert learning_rate_at(15, **sched) == pytest.approx(0.0125 / 2)
    assert learning_rate_at(30, **sched) == pytest.approx(0.0125)
    assert learning_rate_at(30 + 60, **sched) == pytest.approx(0.0125 / 2)      # half of the 12 cosine epochs


def test_the_originals_warm_up_from_0_1_acts_only_above_it_and_decay_scales_with_the_run():
    sched = dict(base_lr=0.05, steps_per_epoch=10, epochs=11, warmup_epochs=3, warmup_lr=0.1)
    assert learning_rate_at(0, **sched) == pytest.approx(0.05)
    assert learning_rate_at(29, **sched) == pytest.approx(0.05)
    assert learning_rate_at(30, **sched) == pytest.approx(0.005)     # 30/110 of 11 epochs = epoch 3
    assert learning_rate_at(0, **dict(sched, base_lr=0.1)) == pytest.approx(0.1)


def test_cosine_schedule_warms_up_then_follows_half_a_cosine_to_zero():
    sched = dict(base_lr=0.4, steps_per_epoch=100, epochs=13, warmup_epochs=3, warmup_lr=0.1, kind='cosine')
    assert learning_rate_at(150, **sched) == pytest.approx(0.25)     # the same warm-up as the step schedule
    assert learning_rate_at(300, **sched) == pytest.approx(0.4)      # peak right after it
    assert learning_rate_at(800, **sched) == pytest.approx(0.2)      # half-way through the 10 cosine epochs
    assert learning_rate_at(550, **sched) == pytest.approx(0.4 * (1 + 2 ** -0.5) / 2)   # a quarter: cos(pi/4)
    assert learning_rate_at(1300, **sched) == pytest.approx(0.)
    lrs = [learning_rate_at(s, **sched) for s in range(300, 1300)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))                  # strictly decreasing, step by step


def test_cosine_without_warmup_starts_at_the_peak():
    sched = dict(base_lr=0.05, steps_per_epoch=10, epochs=10, warmup_epochs=0, kind='cosine')
    assert learning_rate_at(0, **sched) == pytest.approx(0.05)
    assert learning_rate_at(50, **sched) == pytest.approx(0.025)
