"""A run given a time budget (`TrainConfig.minutes`, `train-frames --minutes`): the epochs
and the learning-rate schedule fitted to what the first epoch cost."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.training.fit.loop import BudgetFit

torch = pytest.importorskip("torch")


def test_the_first_epoch_fits_the_epochs_to_the_budget():
    budget = BudgetFit(seconds=600.0)
    assert not budget.epochs  # nothing known before the first epoch
    budget.after_epoch(55.0, epoch=1)
    assert budget.epochs == 10  # 600 s of 55 s epochs
    for epoch in range(2, 11):
        assert budget.another_fits(epoch - 1)
        budget.after_epoch(55.0, epoch=epoch)
    assert not budget.another_fits(10)  # the tenth was the last
    assert budget.spent == pytest.approx(550.0)


def test_epochs_that_get_dearer_end_the_run_sooner():
    slowing = BudgetFit(seconds=100.0)
    slowing.after_epoch(10.0, epoch=1)  # ten epochs fitted...
    slowing.after_epoch(50.0, epoch=2)  # ...but the machine got busy
    assert not slowing.another_fits(2)  # a third as dear as the second ends past 100 s


def test_a_budgeted_run_stops_when_spent_and_its_resume_keeps_the_budget(tmp_path):
    """A budget smaller than one epoch buys that epoch alone, the checkpoint says so, and
    the same command again (a resume) trains no further: the budget was spent."""
    from antiphon.engine.pianoroll import PianoRollCodecConfig
    from antiphon.training.fit.checkpoint import load_checkpoint
    from antiphon.training.fit.frame_pipeline import FrameTask
    from antiphon.training.fit.loop import train_task
    from antiphon.training.fit.train_config import TrainConfig

    rng = np.random.default_rng(0)
    pieces = [rng.random((24, 8)) < 0.2 for _ in range(12)]
    codec = PianoRollCodecConfig(keys=8, lowest_pitch=60, frames_per_beat=2,
                                 distinguish_onsets=False)
    config = TrainConfig(epochs=50, steps_per_epoch=4, batch_size=4, window=16, lr=1e-2,
                         warmup_steps=2, transpose=(0, 0), minutes=1e-5, patience=50)

    def run():
        best = train_task(tmp_path / "run", FrameTask({"train": pieces, "valid": pieces[:3]},
                                                      codec),
                          {"hidden": 8, "nade_hidden": 4}, config, family="rnn-nade")
        assert best.is_file()
        return load_checkpoint(tmp_path / "run" / "latest.pt")[1]

    checkpoint = run()
    assert checkpoint["epoch"] == 1 and len(checkpoint["metrics"]["history"]) == 1
    budget = checkpoint["metrics"]["budget"]
    assert budget["epochs"] == 1 and budget["spent"] > config.minutes * 60
    assert run()["epoch"] == 1  # resumed: nothing left of the budget
