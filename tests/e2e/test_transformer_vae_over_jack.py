"""A Transformer-VAE, trained for a few steps and exported, answers calls over JACK as the
shipped piano-roll models do, every note released."""

from __future__ import annotations

import numpy as np
import pytest
from e2e_support import BEAT, PHRASE, JackPlayer, call_and_hear_answer

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.jack

TRIADS = np.array([[0, 4, 7], [2, 5, 9], [4, 7, 11], [5, 9, 12]])  # on 16 keys from C4


@pytest.fixture(scope="module")
def tiny_transformer_vae(tmp_path_factory):
    """An exported transformer-vae that has learnt to play triads (so it answers notes)."""
    from antiphon.engine.pianoroll import PianoRollCodecConfig
    from antiphon.training.export import export_frame_model
    from antiphon.training.fit.frame_pipeline import FrameTask
    from antiphon.training.fit.loop import train_task
    from antiphon.training.fit.train_config import TrainConfig

    rng = np.random.default_rng(0)

    def pieces(count: int) -> list[np.ndarray]:
        rolls = []
        for _ in range(count):
            roll = np.zeros((16, 16), dtype=bool)
            for frame in range(0, 16, 2):  # a triad held for a beat
                roll[frame:frame + 2, TRIADS[rng.integers(0, len(TRIADS))]] = True
            rolls.append(roll)
        return rolls

    folder = tmp_path_factory.mktemp("tvae-e2e")
    codec = PianoRollCodecConfig(keys=16, lowest_pitch=60, frames_per_beat=2,
                                 distinguish_onsets=False)
    best = train_task(folder / "run", FrameTask({"train": pieces(32), "valid": pieces(4)}, codec),
                      {"width": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 2,
                       "latent": 4, "window": 8, "dropout": 0.0, "importance_samples": 2},
                      TrainConfig(epochs=1, steps_per_epoch=60, batch_size=8, window=16,
                                  lr=1e-2, warmup_steps=5, transpose=(0, 0)),
                      family="transformer-vae")
    path = folder / "tvae.onnx"
    export_frame_model(best, path, "tvae-e2e", parity_steps=10)
    return path


def test_a_transformer_vae_answers_a_call_and_releases_every_note(daemon, tiny_transformer_vae):
    """The exported graph (its key/value caches, position and z as state) plays in `antiphon
    run`; the frame grid itself is held to the shipped piano-roll models in test_midi_edge."""
    process = daemon("--model", str(tiny_transformer_vae), "--max-answer-beats", "4")
    keys = JackPlayer()
    try:
        for _ in range(2):  # a second call: the session goes on from the first answer
            before = len(keys.note_ons())
            call_and_hear_answer(keys, process, PHRASE, BEAT)  # and every note released
            answer = keys.note_ons()[before:]
            assert answer and all(60 <= message[1] < 76 for _, message in answer), answer
    finally:
        keys.close()
