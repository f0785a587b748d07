"""A small but real model for engine tests: trained for a few steps, exported to ONNX.

Tests that only need *a* valid step graph use this instead of the shipped model, so they
do not change when the shipped model is retrained.
"""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.engine.codec import EventCodec
from antiphon.engine.events import NoteEvent


def scale_piece(rng: np.random.Generator, notes: int = 48) -> list[NoteEvent]:
    """A stepwise melody in C major with a little rhythm variety."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    events, tick, degree = [], 0, 0
    for _ in range(notes):
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(scale) - 1))
        length = int(rng.choice([6, 12, 24]))
        events += [NoteEvent(tick, scale[degree], 80), NoteEvent(tick + length, scale[degree], 0)]
        tick += length
    return events


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    pytest.importorskip("torch")
    from antiphon.training.export import export_token_model
    from antiphon.training.token_data import encode_pieces
    from antiphon.training.train import TrainConfig, train

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
