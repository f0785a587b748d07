"""A bar GAN, trained for a few steps and exported, answers a call over JACK the way the
shipped piano-roll models do: on the call's frame grid, in its keys, every note released."""

from __future__ import annotations

import time

import numpy as np
import pytest
from e2e_support import BEAT, PHRASE, JackPlayer, call_and_hear_answer

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.jack

FRAMES_PER_BEAT = 2
BAR_FRAMES = 8  # a bar of the model: four beats
TRIADS = np.array([[0, 4, 7], [2, 5, 9], [4, 7, 11], [5, 9, 12]])  # on 16 keys from C4


@pytest.fixture(scope="module")
def tiny_bar_gan(tmp_path_factory):
    """An exported bar-gan that has learnt to play held triads (so it answers notes)."""
    from antiphon.engine.pianoroll import PianoRollCodecConfig
    from antiphon.training.export import export_frame_model
    from antiphon.training.fit.frame_pipeline import FrameTask
    from antiphon.training.fit.loop import train_task
    from antiphon.training.fit.train_config import TrainConfig

    rng = np.random.default_rng(0)

    def pieces(count: int) -> list[np.ndarray]:
        rolls = []
        for _ in range(count):
            roll = np.zeros((32, 16), dtype=bool)
            for frame in range(0, 32, 2):  # a triad held for a beat
                roll[frame:frame + 2, TRIADS[rng.integers(0, len(TRIADS))]] = True
            rolls.append(roll)
        return rolls

    folder = tmp_path_factory.mktemp("bar-gan-e2e")
    codec = PianoRollCodecConfig(keys=16, lowest_pitch=60, frames_per_beat=FRAMES_PER_BEAT,
                                 distinguish_onsets=False)
    best = train_task(folder / "run", FrameTask({"train": pieces(32), "valid": pieces(4)}, codec),
                      {"bar_frames": BAR_FRAMES, "noise": 4, "width": 8, "critic_width": 8,
                       "generator_lr": 2e-3, "discriminator_lr": 1e-3},
                      TrainConfig(epochs=1, steps_per_epoch=80, batch_size=16,
                                  transpose=(0, 0)), family="bar-gan")
    path = folder / "gan.onnx"
    export_frame_model(best, path, "bar-gan-e2e", parity_steps=3 * BAR_FRAMES)
    return path


def test_a_bar_gan_answers_on_the_calls_frame_grid(daemon, tiny_bar_gan):
    process = daemon("--model", str(tiny_bar_gan), "--max-answer-beats", "8")
    keys = JackPlayer()
    try:
        before = len(keys.note_ons())
        started = time.perf_counter()
        call_and_hear_answer(keys, process, PHRASE, BEAT)  # every note released, too
        answer = keys.note_ons()[before:]
        assert answer, f"no answer notes; antiphon said:\n{process.output()[-3000:]}"
        frame = BEAT / FRAMES_PER_BEAT
        for arrived, message in answer:
            assert 60 <= message[1] < 76  # the model's 16 keys
            phase = ((arrived - started) / frame) % 1.0
            assert min(phase, 1.0 - phase) * frame < 0.02, "answer note off the call's grid"
    finally:
        keys.close()
