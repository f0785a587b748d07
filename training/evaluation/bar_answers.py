"""Answers to calls cut from a piano-roll benchmark, beside the real continuations.

A model with no likelihood (the bar GAN) is measured by what it plays. Each test piece
long enough gives a call, its first `call_frames` frames, and a real continuation, the
`bars` x `bar_frames` frames after it. Every exported piano-roll graph (.onnx) hears the
call through the engine's own StepModel, one frame a step as a FrameSession feeds it,
then answers for as long, each frame fed back (temperature 1, no rules). The bar GAN's
bars are the step graph's: with 16-frame bars and a 16-frame call, its answer is two
bars, the first conditioned on the call, the second on the first.

Measures (answer_metrics, MusPy's definitions where it has one) are taken over the
answer's notes (a key sounding in consecutive frames is one note), and two here:
- bar repeats: the share of an answer's sounding bars (musical bars of four beats) that
  repeat an earlier bar of the same answer exactly;
- distinct answers: the share of calls whose answer no other call got.

    python -m antiphon.training.evaluation.bar_answers JSB_Chorales.mat gan.onnx nade-jsb
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT
from antiphon.engine.model import StepModel
from antiphon.training.data.benchmarks import frames_per_beat, load_benchmark
from antiphon.training.data.rolls import ROLL_LOWEST_PITCH
from antiphon.training.evaluation.answer_metrics import auc_of, measure
from antiphon.training.evaluation.key_calls import tune_key

BEATS_PER_BAR = 4
SHOWN = {"notes_per_beat": "notes per beat", "polyphony": "mean polyphony",
         "pitch_class_entropy": "pitch-class entropy", "scale_consistency": "scale consistency",
         "in_key": "in key (note-time)", "bar_repeats": "bar repeats",
         "distinct": "distinct answers", "auc": "relevance AUC"}


def roll_notes(roll: np.ndarray, ticks_per_frame: int) -> np.ndarray:
    """A roll [T, K] as notes [N, 3] (start, end, pitch in ticks): each run of a key's
    sounding frames is one note."""
    padded = np.pad(np.asarray(roll, bool), ((1, 1), (0, 0)))
    change = np.diff(padded.astype(np.int8), axis=0)  # +1 where a run starts, -1 after it
    notes = []
    for key in range(roll.shape[1]):
        starts, ends = np.flatnonzero(change[:, key] == 1), np.flatnonzero(change[:, key] == -1)
        notes += [(s * ticks_per_frame, e * ticks_per_frame, ROLL_LOWEST_PITCH + key)
                  for s, e in zip(starts, ends, strict=True)]
    return np.array(sorted(notes), np.int64).reshape(-1, 3)


def bar_repeats(roll: np.ndarray, bar_frames: int) -> float:
    """The share of the roll's sounding bars equal to an earlier bar of it; NaN with none."""
    seen, sounding, repeats = set(), 0, 0
    for start in range(0, len(roll) - bar_frames + 1, bar_frames):
        bar = np.asarray(roll[start:start + bar_frames], bool)
        if not bar.any():
            continue
        sounding += 1
        repeats += bar.tobytes() in seen
        seen.add(bar.tobytes())
    return repeats / sounding if sounding else math.nan


def answer(model: StepModel, call: np.ndarray, frames: int, rng: np.random.Generator
           ) -> np.ndarray:
    """Hear `call` [C, K] a frame a step, then sample `frames` frames, each fed back."""
    keys = call.shape[1]
    state, bias = model.initial_state(), np.zeros(keys, dtype=np.float32)
    pending = np.zeros((1, keys), dtype=np.float32)
    for frame in call:
        _, _, state = model.step_frame(pending, state, 1.0,
                                       rng.random((1, keys), dtype=np.float32), bias)
        pending = frame.astype(np.float32)[None]
    made = []
    for _ in range(frames):
        sample, _, state = model.step_frame(pending, state, 1.0,
                                            rng.random((1, keys), dtype=np.float32), bias)
        pending = (sample > 0.5).astype(np.float32)
        made.append(pending[0] > 0.5)
    return np.array(made)


def calls_of(rolls: Sequence[np.ndarray], call_frames: int, answer_frames: int
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(call, real continuation, whole piece) for every piece long enough."""
    return [(roll[:call_frames], roll[call_frames:call_frames + answer_frames], roll)
            for roll in rolls if len(roll) >= call_frames + answer_frames
            and roll[call_frames:call_frames + answer_frames].any()]


def measures(answers: Sequence[np.ndarray], pieces: Sequence[np.ndarray],
             reals: Sequence[np.ndarray], fpb: int) -> dict[str, float]:
    """Each measure's mean over the calls (NaNs left out), answers against `reals`."""
    ticks_per_frame = TICKS_PER_BEAT // fpb
    bar_frames = BEATS_PER_BAR * fpb
    rows = []
    for roll, piece in zip(answers, pieces, strict=True):
        values = measure(roll_notes(roll, ticks_per_frame), len(roll) * ticks_per_frame,
                         BEATS_PER_BAR * TICKS_PER_BEAT, tune_key(roll_notes(piece, 1)))
        rows.append({**values, "bar_repeats": bar_repeats(roll, bar_frames)})
    means = {name: float(np.nanmean([row[name] for row in rows]))
             if any(not math.isnan(row[name]) for row in rows) else math.nan
             for name in rows[0]}
    counts: dict[bytes, int] = {}
    for roll in answers:
        counts[roll.tobytes()] = counts.get(roll.tobytes(), 0) + 1
    means["distinct"] = sum(counts[roll.tobytes()] == 1 for roll in answers) / len(answers)
    means["auc"] = auc_of([roll_notes(a, ticks_per_frame) for a in answers],
                          [roll_notes(r, ticks_per_frame) for r in reals])
    return means


def bar_answer_table(benchmark: str | Path, models: Sequence[str | Path], call_frames: int = 16,
                     answer_frames: int = 32, seed: int = 0) -> tuple[list[str], dict, int]:
    """(column names, measure -> values per column, calls): the real continuations first,
    then each model's answers."""
    fpb = frames_per_beat(benchmark)
    calls = calls_of(load_benchmark(benchmark)["test"], call_frames, answer_frames)
    reals = [real for _, real, _ in calls]
    pieces = [piece for _, _, piece in calls]
    columns, table = ["real continuation"], {name: [] for name in SHOWN}
    results = [measures(reals, pieces, reals, fpb)]
    for path in models:
        model = StepModel(path, device="cpu")
        rng = np.random.default_rng(seed)
        answers = [answer(model, call, answer_frames, rng) for call, _, _ in calls]
        columns.append(model.card.name)
        results.append(measures(answers, pieces, reals, fpb))
    for name in SHOWN:
        table[name] = [result[name] for result in results]
    return columns, table, len(calls)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", help="a piano-roll benchmark (.mat / .json)")
    parser.add_argument("models", nargs="+", help="exported piano-roll graphs (.onnx) or "
                        "shipped model names")
    parser.add_argument("--call-frames", type=int, default=16)
    parser.add_argument("--answer-frames", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from antiphon.exported_models import model_path

    columns, table, calls = bar_answer_table(
        args.benchmark, [model_path(m) for m in args.models], args.call_frames,
        args.answer_frames, args.seed)
    print(f"{calls} calls from the test split of {Path(args.benchmark).name}: "
          f"{args.call_frames} frames heard, {args.answer_frames} answered")
    print("| measure | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, words in SHOWN.items():
        print(f"| {words} | " + " | ".join(f"{v:.3f}" for v in table[name]) + " |")


if __name__ == "__main__":
    main()
