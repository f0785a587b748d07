"""Batch axes for a recurrent event model's step graph, so the engine can step N rows at once
(engine/model.py `step_batch`: best of N samples N candidate answers as one batch).

A recurrent step graph (`--cell rnn|lstm|gru`) has nothing in it that fixes the batch: the
exporter traces it with one row and writes that 1 into the declared shapes. Declaring
the row dimension symbolic ("batch") is all it takes: the token and noise inputs and the
outputs on axis 0, the states ([layers, batch, hidden]) on axis 1, and the logit bias as
[batch, vocab] so that each row keeps its own rules. `antiphon export` does this for
recurrent models; `python -m antiphon.training.batch_axes MODEL.onnx` does it to a file
exported before, in place, and keeps the change only if a batch of rows steps exactly
as the same rows one at a time. The Transformer's step graph reshapes its key/value cache
to one row, so it is left to step one row at a time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx

from antiphon.engine.card import ModelCard, ModelLoadError
from antiphon.engine.model import ORT_ERRORS, StepModel

RECURRENT_FAMILIES = ("rnn", "lstm", "gru")
BATCH = "batch"
PARITY_ROWS = 5
PARITY_TOLERANCE = 1e-4  # largest |difference| of a logit or a state between the two ways


def mark_batch_axes(proto: onnx.ModelProto, card: ModelCard) -> bool:
    """Declare `proto`'s row dimension symbolic, in place; False (nothing changed) for a
    graph that is not a recurrent event model's."""
    if card.representation != "events" or card.family not in RECURRENT_FAMILIES:
        return False
    io = card.io
    on_rows = {io.token, io.uniform, io.sample, io.logits}
    states = {name for tensor in card.state for name in (tensor.input, tensor.output)}
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.name in on_rows:
            dims[0].dim_param = BATCH
        elif value.name in states:
            dims[1].dim_param = BATCH
        elif value.name == io.logit_bias:
            vocab = dims[-1].dim_value
            value.type.tensor_type.shape.ClearField("dim")
            value.type.tensor_type.shape.dim.add().dim_param = BATCH
            value.type.tensor_type.shape.dim.add().dim_value = vocab
    del proto.graph.value_info[:]  # shapes inferred for one row; onnxruntime infers again
    return True


def batch_parity(path: Path, seed: int = 0) -> float:
    """The largest gap between stepping PARITY_ROWS rows as a batch and one at a time,
    over a few steps from random tokens, noise, biases and states."""
    model = StepModel(path, device="cpu")
    rng = np.random.default_rng(seed)
    vocab = model.card.vocab_size
    rows = PARITY_ROWS
    state = [rng.standard_normal(value.shape).astype(np.float32)
             for value in model.batch_state(model.initial_state(), rows)]
    worst = 0.0
    for _ in range(3):
        tokens = rng.integers(0, vocab, rows)
        uniform = rng.random((rows, vocab), dtype=np.float32)
        bias = rng.standard_normal((rows, vocab)).astype(np.float32)
        samples, logits, new_state = model.step_batch(tokens, state, 0.9, uniform, bias, 0.95)
        for row in range(rows):
            sample, row_logits, row_new = model.step(
                int(tokens[row]), model.row_state(state, row), 0.9, uniform[row:row + 1],
                bias[row], 0.95)
            if sample != samples[row]:
                return float("inf")
            gaps = [np.abs(row_logits[0] - logits[row]).max()] + [
                np.abs(np.asarray(mine) - theirs).max()
                for mine, theirs in zip(row_new, model.row_state(new_state, row), strict=True)]
            worst = max(worst, *map(float, gaps))
        state = new_state
    return worst


def mark_file(path: Path) -> str:
    """Mark the step graph in `path` in place, checked; returns what was done, in words."""
    card = StepModel(path, device="cpu").card
    proto = onnx.load(str(path))
    if not mark_batch_axes(proto, card):
        return f"{path}: a {card.family} graph over {card.representation}: left as it is"
    candidate = path.with_suffix(".batched.tmp.onnx")
    onnx.save(proto, str(candidate))
    try:
        gap = batch_parity(candidate)
        if gap > PARITY_TOLERANCE:
            raise ValueError(f"{path}: batched steps differ from single ones by {gap:.2e}")
        candidate.replace(path)
    finally:
        candidate.unlink(missing_ok=True)
    return f"{path}: batch axes declared; batch against single steps, worst gap {gap:.2e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="step graphs (.onnx), in place")
    args = parser.parse_args(argv)
    for path in args.models:
        try:
            print(mark_file(path))
        except (OSError, ValueError, ModelLoadError, onnx.checker.ValidationError,
                *ORT_ERRORS) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
