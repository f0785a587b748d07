"""A Transformer-VAE, trained for a few steps and exported, answers calls over JACK as the
shipped piano-roll models do, every note released."""

from __future__ import annotations

import pytest
from e2e_support import (
    BEAT,
    PHRASE,
    JackPlayer,
    call_and_hear_answer,
    triad_trained_frame_model,
)

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.jack



@pytest.fixture(scope="module")
def tiny_transformer_vae(tmp_path_factory):
    """An exported transformer-vae that has learnt to play triads (so it answers notes)."""
    return triad_trained_frame_model(
        tmp_path_factory.mktemp("tvae-e2e"), "transformer-vae",
        {"width": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 2, "latent": 4,
         "window": 8, "dropout": 0.0, "importance_samples": 2},
        frames=16, frames_per_beat=2, steps=60, batch_size=8)


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
