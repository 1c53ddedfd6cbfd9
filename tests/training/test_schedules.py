"""Learning-rate schedules and early stopping: the numbers worked out by hand, and exact state round trips."""

from __future__ import annotations

import math

import pytest

from nmt.training.schedules import EarlyStopping, LearningRateSchedule, warmup_outlasts_budget


def schedule(kind: str, **overrides) -> LearningRateSchedule:
    settings = dict(kind=kind, peak_lr=1e-3, warmup_steps=4, mode="max", plateau_factor=0.5,
                    plateau_patience=2, min_lr=2e-4)
    settings.update(overrides)
    return LearningRateSchedule(**settings)


def test_warmup_rises_linearly_to_the_peak():
    lrs = [schedule("constant").lr(step) for step in (1, 2, 4, 9)]
    assert lrs == pytest.approx([2.5e-4, 5e-4, 1e-3, 1e-3])


def test_inverse_sqrt_decays_with_the_square_root_of_the_step_after_warmup():
    noam = schedule("inverse_sqrt")
    assert noam.lr(4) == pytest.approx(1e-3)
    assert noam.lr(16) == pytest.approx(1e-3 * math.sqrt(4 / 16))
    assert noam.lr(16) == pytest.approx(noam.lr(4) / 2)


def test_plateau_halves_after_patience_bad_validations_and_stops_at_min_lr():
    plateau = schedule("plateau")
    assert plateau.observe(10.0) is False   # first value: the best
    assert plateau.observe(9.0) is False    # one bad validation: patience 2 not reached
    assert plateau.observe(9.5) is True     # two bad validations: halve
    assert plateau.lr(100) == pytest.approx(5e-4)
    for value in (1.0, 1.0, 1.0, 1.0, 1.0, 1.0):
        plateau.observe(value)
    assert plateau.lr(100) == pytest.approx(2e-4)  # floored at min_lr


def test_plateau_patience_counter_resets_on_improvement():
    plateau = schedule("plateau")
    for value in (10.0, 9.0, 11.0, 10.5):
        assert plateau.observe(value) is False
    assert plateau.lr(100) == pytest.approx(1e-3)


def test_plateau_in_min_mode_treats_lower_as_better():
    plateau = schedule("plateau", mode="min")
    assert [plateau.observe(value) for value in (3.0, 2.0, 2.5, 2.6)] == [False, False, False, True]


def test_restored_schedule_continues_identically():
    original = schedule("plateau")
    for value in (10.0, 9.0):
        original.observe(value)
    restored = schedule("plateau")
    restored.load_state_dict(original.state_dict())
    assert [restored.observe(v) for v in (8.0, 7.0)] == [original.observe(v) for v in (8.0, 7.0)]
    assert restored.lr(50) == original.lr(50)


def test_early_stopping_fires_after_patience_validations_without_improvement():
    stopping = EarlyStopping(mode="max", patience=2)
    assert stopping.observe(5.0, step=10) is True
    assert stopping.observe(4.0, step=20) is False
    assert not stopping.should_stop
    assert stopping.observe(5.0, step=30) is False  # equal is not better
    assert stopping.should_stop
    assert (stopping.best, stopping.best_step) == (5.0, 10)


def test_early_stopping_with_zero_patience_never_stops():
    stopping = EarlyStopping(mode="min", patience=0)
    for step, value in enumerate((1.0, 2.0, 3.0, 4.0)):
        stopping.observe(value, step=step)
    assert not stopping.should_stop
    restored = EarlyStopping(mode="min", patience=0)
    restored.load_state_dict(stopping.state_dict())
    assert (restored.best, restored.best_step, restored.bad_validations) == (1.0, 0, 3)


def test_a_budget_that_ends_inside_the_warmup_is_named_with_its_numbers():
    # The first run a new user made: 30 epochs of 85 updates against the 4,000 updates of warm-up.
    warning = warmup_outlasts_budget(warmup_steps=4000, updates_per_epoch=85, max_epochs=30, max_steps=0)
    assert warning == ("the run stops after 2,550 updates (trainer.max_epochs=30 x 85 updates per epoch) but "
                       "trainer.warmup_steps=4000: the learning rate never gets past 64% of trainer.lr; lower "
                       "trainer.warmup_steps or raise that limit")


def test_the_smaller_of_the_epoch_and_step_budgets_is_the_one_named():
    warning = warmup_outlasts_budget(warmup_steps=400, updates_per_epoch=100, max_epochs=30, max_steps=300)
    assert warning is not None and "after 300 updates (trainer.max_steps=300)" in warning


@pytest.mark.parametrize(("warmup_steps", "max_epochs", "max_steps"), [
    (400, 4, 0),   # the warm-up ends with the last update
    (0, 1, 0),     # no warm-up
    (400, 0, 0),   # bounded by max_time or early stopping only: no budget known in advance
    (400, 0, 500),
])
def test_no_warning_when_the_warmup_ends_within_the_budget(warmup_steps, max_epochs, max_steps):
    assert warmup_outlasts_budget(warmup_steps=warmup_steps, updates_per_epoch=100, max_epochs=max_epochs,
                                  max_steps=max_steps) is None
