"""A bar GAN, trained for a few steps and exported, answers a call over JACK the way the
shipped piano-roll models do: on the call's frame grid, in its keys, every note released."""

from __future__ import annotations

import pytest
from e2e_support import (
    BEAT,
    GRID_TOLERANCE_SECONDS,
    PHRASE,
    JackPlayer,
    call_and_hear_answer,
    frame_grid_misses,
    triad_trained_frame_model,
)

from antiphon.daemon.play.timing_trace import TimingTrace

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.jack

FRAMES_PER_BEAT = 2
BAR_FRAMES = 8  # a bar of the model: four beats


@pytest.fixture(scope="module")
def tiny_bar_gan(tmp_path_factory):
    """An exported bar-gan that has learnt to play held triads (so it answers notes)."""
    return triad_trained_frame_model(
        tmp_path_factory.mktemp("bar-gan-e2e"), "bar-gan",
        {"bar_frames": BAR_FRAMES, "noise": 4, "width": 8, "critic_width": 8,
         "generator_lr": 2e-3, "discriminator_lr": 1e-3},
        frames=32, frames_per_beat=FRAMES_PER_BEAT, steps=80, batch_size=16)


def test_a_bar_gan_answers_on_the_calls_frame_grid(daemon, tiny_bar_gan):
    process = daemon("--model", str(tiny_bar_gan), "--max-answer-beats", "8")
    keys = JackPlayer()
    try:
        before = len(keys.note_ons())
        call_and_hear_answer(keys, process, PHRASE, BEAT)  # every note released, too
        answer = keys.note_ons()[before:]
        assert answer, f"no answer notes; antiphon said:\n{process.output()[-3000:]}"
        assert all(60 <= message[1] < 76 for _, message in answer)  # the model's 16 keys
    finally:
        keys.close()
    process.terminate()  # its trace judges the grid: what it planned and sent, not JACK's way
    misses = frame_grid_misses(TimingTrace.read(process.trace_path), PHRASE[0][0],
                               BEAT / FRAMES_PER_BEAT)
    assert len(misses) == 1 and misses[0], misses
    assert max(misses[0]) < GRID_TOLERANCE_SECONDS, f"answer notes off the call's grid: {misses}"
