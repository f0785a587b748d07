"""`antiphon train-small`: the small melody models on music21 corpora (or MIDI folders),
with the baselines they are read against: a unigram over grid tokens, and the stratified
dummy for the pitch and duration heads."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from antiphon.training.data.corpus import import_corpus, split_pieces
from antiphon.training.data.melodies import (
    DURATION_SIXTEENTHS,
    grid_tokens,
    melody_line,
    note_sequence,
    stratified_dummy_accuracy,
)
from antiphon.training.families.small_models import (
    DURATION_BOS,
    GRID_BOS,
    PITCH_BOS,
    MelodyTask,
    PitchDurationTask,
    flat_split,
)
from antiphon.training.fit.checkpoint import (
    add_test_metrics,
    load_checkpoint,
    read_checkpoint,
)
from antiphon.training.fit.distributed import is_main_process
from antiphon.training.fit.loop import train_task
from antiphon.training.fit.train_config import TrainConfig

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
    if not is_main_process():
        return {}  # a torchrun worker: rank 0 scores and reports
    return add_test_metrics(best, lambda model: {
        f"test_{key}": value
        for key, value in task.evaluate(model.to(config.device), "test", config).items()})


SMALL_FAMILIES = {"melody-lstm": "melody", "pitch-duration-lstm": "pitch-duration"}
SMALL_UNITS = {"melody": "nats/sixteenth", "pitch-duration": "nats/note"}


def is_small_model(path: Path) -> bool:
    if Path(path).suffix != ".pt":
        return False
    return read_checkpoint(path).get("family") in SMALL_FAMILIES


def evaluate_small_models(paths: Sequence[Path], sources: Sequence[str],
                          midi_dirs: Sequence[Path], workers: int | None = None):
    """An Evaluation per kind of small model on the corpora's test melodies, with its
    baselines (unigram over grid tokens; stratified dummy accuracies for notes)."""
    from antiphon.training.evaluation.held_out import Evaluation, ScoreRow

    evaluations = []
    by_kind: dict[str, list[Path]] = {}
    for path in paths:
        _, checkpoint = load_checkpoint(path)
        by_kind.setdefault(SMALL_FAMILIES[checkpoint["family"]], []).append(Path(path))
    names = "+".join([*sources, *(f"midi:{Path(d).name}" for d in midi_dirs)])
    config = TrainConfig()
    for kind, kind_paths in by_kind.items():
        pieces = melody_splits(sources, midi_dirs, kind, workers)
        title = "melody, 16th grid" if kind == "melody" else "melody notes"
        evaluation = Evaluation(f"{names} {title}", SMALL_UNITS[kind])
        train_all = np.concatenate(pieces["train"]).astype(np.int64)
        test_all = np.concatenate(pieces["test"]).astype(np.int64)
        evaluation.notes.update(test_pieces=len(pieces["test"]))
        if kind == "melody":
            task = MelodyTask({"test": flat_split(pieces["test"], np.array(GRID_BOS))})
            evaluation.rows.append(ScoreRow("unigram (16th-grid tokens)", unigram_nll(
                train_all, test_all, GRID_BOS), "count baseline, fitted on train"))
        else:
            task = PitchDurationTask({"test": flat_split(
                pieces["test"], np.array([PITCH_BOS, DURATION_BOS]))})
            evaluation.notes["stratified dummy: pitch accuracy"] = stratified_dummy_accuracy(
                train_all[:, 0], test_all[:, 0], 128)
            evaluation.notes["stratified dummy: duration accuracy"] = (
                stratified_dummy_accuracy(train_all[:, 1], test_all[:, 1],
                                          len(DURATION_SIXTEENTHS)))
        for path in kind_paths:
            model, _ = load_checkpoint(path)
            figures = task.evaluate(model, "test", config)
            name = f"{path.parent.name} ({kind})"
            evaluation.rows.append(ScoreRow(name, figures["nll"], str(path),
                                            figures["accuracy"]))
            if kind == "pitch-duration":
                evaluation.notes[f"{name}: duration accuracy"] = figures["duration_accuracy"]
        evaluations.append(evaluation)
    return evaluations
