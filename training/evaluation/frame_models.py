"""Piano-roll models in `antiphon eval`: frame NLL on the benchmark they were trained on.

An exported `.onnx` model is scored THROUGH THE ENGINE (`StepModel.step_frame`), frame by
frame as it plays. Its graph samples a frame key by key and returns each key's logit given
the keys drawn before it; to score a real frame, the uniform noise is set so that the draw
must come out as that frame (0 for a key that sounds: drawn whenever p > 0; 1 for a silent
one: never drawn, as p < 1). The logits returned are then exactly the conditionals
p(v_i | v_<i, earlier frames) of the true frame, whose -log sum is the frame's NLL (short
of a key the model gives probability 0 in float32, which no draw can produce). A
`.pt` checkpoint is scored through torch by its own loss in eval mode (exact for the
RNN-NADE; for the LSTM-VAE, its importance-weighted upper bound on the NLL, while its
exported graph plays, and is scored at, the prior's mean code z = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.engine.model import StepModel
from antiphon.training.evaluation.held_out import FramePredictor, benchmark_name
from antiphon.training.evaluation.note_density import (
    DENSITY_FRAMES,
    DENSITY_PIECES,
    onnx_note_density,
)

FRAME_FAMILIES = ("rnn-nade", "lstm-vae", "transformer-vae", "gru-seq2seq", "bar-gan")


@dataclass(frozen=True)
class FrameModel:
    name: str
    path: Path
    benchmark: str  # benchmark_name() of the data it was trained on: what it can score
    predict: FramePredictor | None = None  # p(key) per frame (exported graphs)
    score: Callable[[Sequence[np.ndarray]], float] | None = None  # rolls -> NLL (torch)
    density: Callable[[Sequence[np.ndarray]], float] | None = None  # notes/frame it samples
    # further figures by name (a VAE checkpoint's: evaluation.vae_figures)
    figures: Callable[[Sequence[np.ndarray]], dict[str, float]] | None = None


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def onnx_frame_predictor(model: StepModel) -> FramePredictor:
    """p(key sounds | the keys below it, earlier frames) per frame, for `frame_nll` (which
    floors probabilities: `onnx_frame_scorer` is exact in the far tails)."""
    logits_of = _frame_logits(model)
    return lambda roll: sigmoid(logits_of(roll))


def onnx_frame_scorer(model: StepModel) -> Callable[[Sequence[np.ndarray]], float]:
    """Mean -log p(frame | earlier frames) over every frame of `rolls`, from the exported
    graph's logits: -log sigmoid(+-logit) in float64 (softplus), exact where a probability
    would round to 0 or 1."""
    predict_logits = _frame_logits(model)

    def score(rolls: Sequence[np.ndarray]) -> float:
        total, frames = 0.0, 0
        for roll in rolls:
            logits = predict_logits(roll)  # [T, K]
            signed = np.where(np.asarray(roll, dtype=bool), -logits, logits)
            total += float(np.logaddexp(0.0, signed).sum())
            frames += len(roll)
        return total / frames

    return score


def _frame_logits(model: StepModel) -> Callable[[np.ndarray], np.ndarray]:
    keys = model.card.vocab_size
    no_bias = np.zeros(keys, dtype=np.float32)

    def logits_of(roll: np.ndarray) -> np.ndarray:
        roll = np.asarray(roll, dtype=bool)
        state, previous = model.initial_state(), np.zeros((1, keys), dtype=np.float32)
        out = np.empty(roll.shape, dtype=np.float64)  # [T, K]
        for t, frame in enumerate(roll):
            forcing = np.where(frame, 0.0, 1.0).astype(np.float32)[None, :]
            _, logits, state = model.step_frame(previous, state, 1.0, forcing, no_bias)
            out[t] = logits[0]
            previous = frame.astype(np.float32)[None, :]  # teacher forcing, as in training
        return out

    return logits_of


# Families without a likelihood to score: `antiphon eval` refuses them, and says what
# measures them instead.
NO_LIKELIHOOD = {"bar-gan": "python -m antiphon.training.evaluation.bar_answers BENCHMARK "
                            "MODEL.onnx (its answers beside the real continuations)"}


def _has_a_likelihood(path: Path, family: str) -> None:
    if family in NO_LIKELIHOOD:
        raise ValueError(f"{path}: a {family} has no likelihood to score; measure it with "
                         f"{NO_LIKELIHOOD[family]}")


def load_frame_model(path: str | Path) -> FrameModel:
    path = Path(path)
    if path.suffix == ".onnx":
        model = StepModel(path, device="cpu")
        card = model.card
        _has_a_likelihood(path, card.family)
        trained_on = card.training.get("data", {}).get("benchmark", "")
        return FrameModel(card.name, path, benchmark_name(trained_on),
                          score=onnx_frame_scorer(model),
                          density=lambda rolls: onnx_note_density(
                              model, rolls[:DENSITY_PIECES], DENSITY_FRAMES))
    from antiphon.training.evaluation.vae_figures import vae_figures
    from antiphon.training.fit.checkpoint import load_checkpoint
    from antiphon.training.fit.frame_pipeline import frame_nll_of, note_density

    torch_model, checkpoint = load_checkpoint(path)
    _has_a_likelihood(path, checkpoint["family"])
    trained_on = checkpoint.get("data", {}).get("benchmark", "")
    run = path.parent.name if path.stem in ("best", "latest") else path.stem
    is_vae = hasattr(torch_model, "encode")  # a code per piece: it can reconstruct one
    return FrameModel(
        f"{checkpoint['family']} ({run})", path, benchmark_name(trained_on),
        score=lambda rolls: frame_nll_of(torch_model, rolls),
        density=lambda rolls: note_density(torch_model, rolls[:DENSITY_PIECES], DENSITY_FRAMES),
        figures=(lambda rolls: vae_figures(torch_model, rolls)) if is_vae else None)


def is_frame_model(path: str | Path) -> bool:
    """Whether a model file holds a piano-roll model (else a token model)."""
    path = Path(path)
    if path.suffix == ".onnx":
        return StepModel(path, device="cpu").card.representation == "pianoroll"
    if path.suffix == ".pt":
        from antiphon.training.fit.checkpoint import read_checkpoint  # torch: only here

        return read_checkpoint(path).get("family") in FRAME_FAMILIES
    return False
