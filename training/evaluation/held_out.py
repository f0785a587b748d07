"""Held-out figures for `antiphon eval`: token models and piano-roll benchmarks.

An exported model (`.onnx`) is measured THROUGH THE ENGINE: `StepModel` steps token by
token from BOS over every held-out piece, as it does when it plays, and the logits it
returns are scored in numpy. So the figure belongs to what plays (the exported graph,
onnxruntime's kernels), not to the torch model it came from. A checkpoint (`.pt`) is
measured through torch (`training.train.evaluate`), as training measures it; on the same
pieces the two agree to well under 1e-3 nats (tests/training/evaluation/test_evaluate.py).

Token models are scored on the test split of the corpora they name, split as training
splits them (`training.pipeline.prepare_splits`), beside the unigram and bigram count
baselines fitted on the train split and scored on the same test pieces.

A piano-roll benchmark (BL2012 `.mat`, JSB `.json`) is scored frame by frame: any
`FramePredictor` (a roll in, p(key sounds) per frame out, each frame from earlier frames
only) plugs into `evaluate_benchmark` beside the per-key unigram and Markov floors. Token
models are scored there too, on the rolls serialised as event tokens
(`training.roll_tokens`), in nats per frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antiphon.engine.codec import EventCodec, EventCodecConfig
from antiphon.engine.model import StepModel
from antiphon.training.data.benchmarks import frames_per_beat, load_benchmark
from antiphon.training.data.roll_tokens import nll_per_frame, roll_token_split
from antiphon.training.data.tokens import TokenSplit
from antiphon.training.evaluation.frame_baselines import MarkovBaseline, UnigramBaseline, frame_nll
from antiphon.training.evaluation.token_baselines import bigram_nll, unigram_nll

log = logging.getLogger(__name__)

# The families over the events representation (checkpoint.FAMILIES also has frame ones).
TOKEN_FAMILIES = ("recurrent", "transformer")

# p(key sounds) [T, K] for a roll [T, K], row t predicted from rows < t only.
FramePredictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ScoreRow:
    """One model's held-out figure on one data set."""

    model: str  # what the table calls it
    nll: float  # nats per token (token models) or per frame (piano-roll benchmarks)
    measured_on: str  # the file that was measured, or what kind of baseline it is
    accuracy: float | None = None  # next-token accuracy (token models only)


@dataclass
class Evaluation:
    """The rows measured on one data set's test split."""

    dataset: str  # "jsb", "nottingham", or the corpora joined by "+"
    unit: str  # "nats/token" or "nats/frame"
    rows: list[ScoreRow] = field(default_factory=list)
    notes: dict[str, float] = field(default_factory=dict)  # counts and side figures
    seconds: dict[str, float] = field(default_factory=dict)  # model -> time to score it


# -- token models -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenModel:
    """A model file to score, with the codec that turns music into its tokens."""

    name: str
    path: Path
    codec: EventCodec
    score: Callable[[TokenSplit], tuple[float, float]]  # split -> (NLL/token, accuracy)
    benchmark: str = ""  # the piano-roll benchmark it was trained on ("": corpora)

    def frame_scorer(self, benchmark: str | Path) -> Callable[[Sequence[np.ndarray]], float]:
        """Rolls -> NLL per frame, the rolls serialised as this model's tokens."""
        def score_rolls(rolls: Sequence[np.ndarray]) -> float:
            split = roll_token_split(rolls, self.codec, frames_per_beat(benchmark))
            nll, _ = self.score(split)
            return nll_per_frame(nll, split, sum(len(roll) for roll in rolls))

        return score_rolls


def load_token_model(path: str | Path, device: str = "cpu") -> TokenModel:
    """An exported `.onnx` model (scored through the engine) or a `.pt` checkpoint (torch)."""
    path = Path(path)
    if path.suffix == ".onnx":
        model = StepModel(path, device=device)
        card = model.card
        if card.representation != "events":
            raise ValueError(
                f"{path}: a {card.representation!r} model is scored with --benchmark, not on "
                "token corpora")
        codec = EventCodec(EventCodecConfig.from_dict(card.codec))
        trained_on = card.training.get("data", {}).get("benchmark", "")
        # A quantised copy scores beside its float32 source: its row says its precision.
        label = card.name if card.precision == "float32" else f"{card.name} ({card.precision})"
        return TokenModel(label, path, codec, lambda split: score_step_model(model, split),
                          benchmark_name(trained_on) if trained_on else "")
    if path.suffix == ".pt":
        from antiphon.training.fit.checkpoint import load_checkpoint  # torch: only for checkpoints

        torch_model, checkpoint = load_checkpoint(path)
        if checkpoint["family"] not in TOKEN_FAMILIES:
            raise ValueError(f"{path}: a {checkpoint['family']!r} checkpoint is a frame model; "
                             "frame models cannot be evaluated yet")
        codec = EventCodec(EventCodecConfig.from_dict(checkpoint["codec"]))
        trained_on = checkpoint.get("data", {}).get("benchmark", "")
        run = path.parent.name if path.stem in ("best", "latest") else path.stem
        kind = checkpoint["model_config"].get("cell", checkpoint["family"])  # lstm, ...
        return TokenModel(f"{kind} ({run})", path, codec,
                          lambda split: score_torch_model(torch_model, split, device),
                          benchmark_name(trained_on) if trained_on else "")
    raise ValueError(f"{path}: not a model file (an exported .onnx or a checkpoint .pt)")


def score_step_model(model: StepModel, split: TokenSplit) -> tuple[float, float]:
    """(NLL per token in nats, next-token accuracy) of an exported model, step by step.

    Each piece starts from the model's initial state with its BOS; the logits after token
    t score token t + 1. The sampling inputs are fixed: only the logits are read.
    """
    vocab = model.card.vocab_size
    uniform = np.full((1, vocab), 0.5, dtype=np.float32)
    no_bias = np.zeros(vocab, dtype=np.float32)
    total_nll, total_right, total_count = 0.0, 0, 0
    for index in range(split.pieces):
        piece = split.piece(index).astype(np.int64)  # [T], piece[0] is BOS
        logits = np.empty((len(piece) - 1, vocab), dtype=np.float64)  # [T - 1, V]
        state = model.initial_state()
        for position, token in enumerate(piece[:-1]):
            _, step_logits, state = model.step(int(token), state, 1.0, uniform, no_bias)
            logits[position] = step_logits[0]
        targets = piece[1:]
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))  # [T - 1]
        total_nll += float((log_z - logits[np.arange(len(targets)), targets]).sum())
        total_right += int((logits.argmax(axis=1) == targets).sum())
        total_count += len(targets)
    if total_count == 0:
        raise ValueError("the split has no tokens to predict")
    return total_nll / total_count, total_right / total_count


def score_torch_model(model, split: TokenSplit, device: str = "cpu") -> tuple[float, float]:
    """(NLL per token, accuracy) of a torch model over whole pieces (`train.evaluate`)."""
    from antiphon.training.fit.loop import evaluate  # torch: only for checkpoints

    return evaluate(model.to(device), split, device)


def first_pieces(split: TokenSplit, limit: int | None) -> TokenSplit:
    """The split's first `limit` pieces (all of them for None)."""
    if limit is None or limit >= split.pieces:
        return split
    if limit < 1:
        raise ValueError(f"limit must be at least 1 piece, got {limit}")
    end = int(split.starts[limit])
    return TokenSplit(split.tokens[:end], split.starts[: limit + 1].copy())


def evaluate_token_models(
    models: Sequence[TokenModel],
    sources: Sequence[str],
    midi_dirs: Sequence[Path] = (),
    limit: int | None = None,
    workers: int | None = None,
    cache_dir: Path | None = None,
) -> Evaluation:
    """Every model, and the count baselines, on the corpora's test split.

    `limit` scores only the first `limit` test pieces (the baselines too); the baselines
    are always fitted on the whole train split, as training fits them.
    """
    from antiphon.training.fit.token_pipeline import prepare_splits  # the split training made

    if not models:
        raise ValueError("no token models to evaluate")
    codec = models[0].codec
    for model in models[1:]:
        if model.codec.config != codec.config:
            raise ValueError(f"{model.path} uses another token codec than {models[0].path}; "
                             "evaluate them separately")
    splits, _ = prepare_splits(sources, midi_dirs, codec, workers=workers, cache_dir=cache_dir)
    test = first_pieces(splits["test"], limit)
    vocab = codec.vocab_size
    evaluation = Evaluation("+".join([*sources, *(Path(d).name for d in midi_dirs)]),
                            "nats/token")  # music21 corpora by name, folders by theirs
    evaluation.notes.update(test_pieces=test.pieces, test_tokens=len(test) - test.pieces)
    baseline = "count baseline, fitted on train"
    evaluation.rows += [
        ScoreRow("unigram (tokens)", unigram_nll(splits["train"], test, vocab), baseline),
        ScoreRow("bigram (tokens)", bigram_nll(splits["train"], test, vocab), baseline),
    ]
    for model in models:
        began = time.perf_counter()
        nll, accuracy = model.score(test)
        seconds = time.perf_counter() - began
        log.info("%s: %.4f nats/token, accuracy %.3f over %d test tokens in %.0f s",
                 model.path, nll, accuracy, len(test) - test.pieces, seconds)
        evaluation.seconds[model.name] = seconds
        evaluation.rows.append(ScoreRow(model.name, nll, str(model.path), accuracy))
    return evaluation


# -- piano-roll benchmarks ----------------------------------------------------------------


def benchmark_name(path: str | Path) -> str:
    """"jsb" or "nottingham" for the BL2012 files (and the JSB json at quarter notes);
    other files by their name."""
    stem = Path(path).stem.lower()
    if "nottingham" in stem:
        return "nottingham"
    if "jsb" in stem:
        # The .mat JSB is on a quarter-note grid; the json comes at three grids.
        for grid in ("16th", "8th"):
            if grid in stem:
                return f"jsb-{grid}"
        return "jsb"
    return Path(path).stem


def evaluate_benchmark(
    path: str | Path,
    predictors: Mapping[str, FramePredictor] | None = None,
    skip_first_frame: bool = False,
    measured_on: Mapping[str, str] | None = None,
    scorers: Mapping[str, Callable[[Sequence[np.ndarray]], float]] | None = None,
) -> Evaluation:
    """The per-key floors and every predictor, fitted (floors) on train, scored on test.

    `notes` also holds the floors under the other first-frame convention (some published
    floors leave each piece's first frame out; the protocol scores it).
    """
    rolls = load_benchmark(path)
    unigram, markov = UnigramBaseline.fit(rolls["train"]), MarkovBaseline.fit(rolls["train"])
    candidates: dict[str, tuple[FramePredictor, str]] = {
        "per-key unigram": (unigram.predict, "count floor, fitted on train"),
        "per-key Markov": (markov.predict, "count floor, fitted on train"),
    }
    candidates.update({name: (predict, (measured_on or {}).get(name, name))
                       for name, predict in (predictors or {}).items()})
    test = rolls["test"]
    evaluation = Evaluation(benchmark_name(path), "nats/frame")
    scored_frames = sum(len(roll) - (1 if skip_first_frame else 0) for roll in test)
    evaluation.notes.update(test_pieces=len(test), test_frames=scored_frames)
    for name, (predict, source) in candidates.items():
        probabilities = [predict(roll) for roll in test]
        evaluation.rows.append(
            ScoreRow(name, frame_nll(probabilities, test, skip_first_frame), source))
        if name.startswith("per-key"):
            other = frame_nll(probabilities, test, not skip_first_frame)
            evaluation.notes[f"{name}, first frame {'scored' if skip_first_frame else 'skipped'}"
                             ] = other
    for name, score in (scorers or {}).items():  # frame models: their NLL, every frame
        if skip_first_frame:
            raise ValueError(f"{name}: piano-roll models are scored on every frame (the "
                             "protocol); leave out --skip-first-frame")
        evaluation.rows.append(ScoreRow(name, score(test), (measured_on or {}).get(name, name)))
    return evaluation
