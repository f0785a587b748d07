"""`antiphon train-small`: the small melody models on music21 corpora (or MIDI folders),
with the baselines they are read against: a unigram over grid tokens, and the stratified
dummy for the pitch and duration heads."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from antiphon.training.checkpoint import load_checkpoint, save_checkpoint
from antiphon.training.corpus import import_corpus, split_pieces
from antiphon.training.melody_data import (
    DURATION_SIXTEENTHS,
    grid_tokens,
    melody_line,
    note_sequence,
    stratified_dummy_accuracy,
)
from antiphon.training.small_models import (
    DURATION_BOS,
    GRID_BOS,
    PITCH_BOS,
    MelodyTask,
    PitchDurationTask,
    flat_split,
)
from antiphon.training.train import TrainConfig, train_task

log = logging.getLogger(__name__)

KINDS = {"melody": "melody-lstm", "pitch-duration": "pitch-duration-lstm"}


def melody_splits(sources: Sequence[str], midi_dirs: Sequence[Path], kind: str,
                  workers: int | None = None, limit: int | None = None):
    """Per split, each piece's grid tokens (melody) or note rows (pitch-duration)."""
    imported = import_corpus(sources, midi_dirs, workers=workers, limit=limit)
    splits = {}
    for name, pieces in split_pieces(imported.pieces).items():
        lines = [melody_line(piece.events) for piece in pieces]
        encoded = [grid_tokens(line) if kind == "melody" else note_sequence(line)
                   for line in lines if len(line) >= 2]
        if not encoded:
            raise ValueError(f"the corpus gives no {name} melodies; add more music")
        splits[name] = encoded
    return splits


def unigram_nll(train: np.ndarray, test: np.ndarray, vocab: int) -> float:
    counts = np.bincount(train, minlength=vocab) + 0.5
    return float(-np.log(counts[test] / counts.sum()).mean())


def train_small(kind: str, run_dir: str | Path, sources: Sequence[str],
                midi_dirs: Sequence[Path], model_config: dict, config: TrainConfig,
                workers: int | None = None, limit: int | None = None) -> dict:
    """Train one small model; returns its test figures beside the baselines'."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    pieces = melody_splits(sources, midi_dirs, kind, workers, limit)
    if kind == "melody":
        bos = np.array(GRID_BOS)
        task = MelodyTask({name: flat_split(p, bos) for name, p in pieces.items()})
        train_all, test_all = np.concatenate(pieces["train"]), np.concatenate(pieces["test"])
        baselines = {"test_unigram_nll_per_sixteenth": unigram_nll(
            train_all.astype(np.int64), test_all.astype(np.int64), GRID_BOS)}
    else:
        bos = np.array([PITCH_BOS, DURATION_BOS])
        task = PitchDurationTask({name: flat_split(p, bos) for name, p in pieces.items()})
        train_all, test_all = np.concatenate(pieces["train"]), np.concatenate(pieces["test"])
        baselines = {
            "test_dummy_pitch_accuracy": stratified_dummy_accuracy(
                train_all[:, 0], test_all[:, 0], 128),
            "test_dummy_duration_accuracy": stratified_dummy_accuracy(
                train_all[:, 1], test_all[:, 1], len(DURATION_SIXTEENTHS)),
        }
    data = {"sources": list(sources) + [f"midi:{Path(d).name}" for d in midi_dirs],
            "pieces": {name: len(p) for name, p in pieces.items()},
            "key": "each piece moved to C major / A minor (Krumhansl-Kessler estimate)"}
    best = train_task(run_dir, task, model_config, config, data=data, baselines=baselines,
                      family=KINDS[kind])
    model, checkpoint = load_checkpoint(best)
    test = task.evaluate(model.to(config.device), "test", config)
    checkpoint["metrics"].update({f"test_{key}": value for key, value in test.items()})
    checkpoint["metrics"].pop("history", None)
    save_checkpoint(best, **{k: v for k, v in checkpoint.items() if k != "format"})
    return checkpoint["metrics"]
