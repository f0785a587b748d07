"""A small but real model for engine tests: trained for a few steps, exported to ONNX.

Tests that only need *a* valid step graph use this instead of the shipped model, so they
do not change when the shipped model is retrained.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import chord_rolls, scale_piece

from antiphon.engine.codec import EventCodec


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    pytest.importorskip("torch")
    from antiphon.training.data.tokens import encode_pieces
    from antiphon.training.export import export_token_model
    from antiphon.training.fit.loop import TrainConfig, train

    rng = np.random.default_rng(0)
    codec = EventCodec()
    splits = {
        name: encode_pieces([scale_piece(rng) for _ in range(count)], codec)
        for name, count in (("train", 40), ("valid", 4))
    }
    run = tmp_path_factory.mktemp("tiny_run")
    best = train(run, codec, splits, {"hidden": 48, "embedding": 16, "layers": 1},
                 TrainConfig(epochs=1, steps_per_epoch=150, batch_size=8, window=64,
                             warmup_steps=10, lr=1e-2))
    path = run / "tiny.onnx"
    export_token_model(best, path, "tiny", "test model", parity_steps=50)
    return path


@pytest.fixture(scope="session")
def chord_model_path(tmp_path_factory):
    """A small RNN-NADE that plays 3-note chords on MIDI 60-67, exported to ONNX."""
    pytest.importorskip("torch")
    from antiphon.engine.pianoroll import PianoRollCodecConfig
    from antiphon.training.export import export_frame_model
    from antiphon.training.fit.frame_pipeline import FrameTask
    from antiphon.training.fit.loop import TrainConfig, train_task

    splits = {"train": chord_rolls(40, 32, seed=0), "valid": chord_rolls(8, 32, seed=1)}
    codec = PianoRollCodecConfig(keys=8, lowest_pitch=60, frames_per_beat=2,
                                 distinguish_onsets=False)
    run = tmp_path_factory.mktemp("chord_run")
    best = train_task(run, FrameTask(splits, codec), {"hidden": 32, "nade_hidden": 24,
                                                      "dropout": 0.0},
                      TrainConfig(epochs=3, steps_per_epoch=100, batch_size=8, window=32,
                                  lr=1e-2, warmup_steps=10, transpose=(0, 0)),
                      family="rnn-nade")
    path = run / "chords.onnx"
    export_frame_model(best, path, "chords", "chord test model", parity_steps=20)
    return path
