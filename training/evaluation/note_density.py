"""Note density, notes per frame, of what a piano-roll model plays: the protocol (how many
primers, how many frames sampled after each) and its measure through the engine.

`fit.frame_pipeline.note_density` measures a torch model the same way when training ends,
and `evaluation.frame_models` measures exported graphs; both read the protocol here, which
imports neither torch nor the training loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from antiphon.engine.model import StepModel

DENSITY_PIECES, DENSITY_FRAMES = 20, 32  # note density: primers, and frames sampled after each


def onnx_note_density(model: StepModel, primers: Sequence[np.ndarray], frames: int,
                      seed: int = 0) -> float:
    """Mean notes per frame the exported graph draws (temperature 1, no masks) in `frames`
    frames after each primer roll: `fit.frame_pipeline.note_density`, through the engine."""
    keys = model.card.vocab_size
    no_bias = np.zeros(keys, dtype=np.float32)
    rng = np.random.default_rng(seed)
    total, count = 0.0, 0
    for primer in primers:
        state, previous = model.initial_state(), np.zeros((1, keys), dtype=np.float32)
        never = np.ones((1, keys), dtype=np.float32)  # listening: nothing drawn
        for frame in np.asarray(primer, dtype=np.float32):
            _, _, state = model.step_frame(previous, state, 1.0, never, no_bias)
            previous = frame[None, :]
        for _ in range(frames):
            uniform = rng.random((1, keys), dtype=np.float32)
            drawn, _, state = model.step_frame(previous, state, 1.0, uniform, no_bias)
            previous = np.asarray(drawn, dtype=np.float32).reshape(1, keys)
            total += float(previous.sum())
            count += 1
    return total / max(count, 1)
