"""The small melody models: key normalisation, the two encodings, the stratified dummy,
and both models trained by `antiphon train-small` beating their baselines."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import mido  # noqa: E402
import numpy as np  # noqa: E402,I001
from typer.testing import CliRunner  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.training.data.melodies import (  # noqa: E402
    HOLD,
    NOTE_BASE,
    REST,
    grid_tokens,
    key_shift,
    melody_line,
    note_sequence,
    stratified_dummy_accuracy,
)
from antiphon.training.fit.checkpoint import load_checkpoint  # noqa: E402


def scale_notes(tonic: int, minor: bool = False) -> list[tuple[int, int, int]]:
    steps = (0, 2, 3, 5, 7, 8, 10, 12) if minor else (0, 2, 4, 5, 7, 9, 11, 12)
    tune = [0, 4, 7, 4, 0, 2, 4, 5, 7, 12, 7, 4, 0]  # indexes into the scale, tonic heavy
    notes = [(i * 24, i * 24 + 24, tonic + steps[k % 8] + 12 * (k // 8)) for i, k in
             enumerate(t % 8 for t in tune)]
    return notes


def events(notes):
    return ([NoteEvent(s, p, 80) for s, _, p in notes] + [NoteEvent(e, p, 0) for _, e, p in notes])


@pytest.mark.parametrize(("tonic", "minor", "shift"), [(62, False, -2), (67, False, 5),
                                                        (64, True, 5), (57, True, 0)])
def test_keys_move_to_c_major_or_a_minor(tonic, minor, shift):
    assert key_shift(scale_notes(tonic, minor)) == shift


def test_the_grid_and_the_notes_of_a_line():
    from antiphon.engine.events import sort_events

    # C4 a quarter, a rest of an eighth, E4 an eighth plus a chord tone below it (skyline)
    notes = [(0, 24, 60), (36, 48, 64), (36, 48, 55)]
    line = melody_line(sort_events(events(notes)))
    assert line == [(0, 4, 60), (6, 8, 64)]  # in 16ths, already in C
    assert grid_tokens(line).tolist() == [NOTE_BASE + 60, HOLD, HOLD, HOLD, REST, HOLD,
                                          NOTE_BASE + 64, HOLD]
    assert note_sequence(line).tolist() == [[60, 4], [64, 1]]  # 6 16ths (dotted quarter), 2


def test_stratified_dummy_accuracy():
    train, test = np.array([0, 0, 0, 1]), np.array([0, 1])
    assert stratified_dummy_accuracy(train, test, 2) == pytest.approx(0.75 * 0.5 + 0.25 * 0.5)


def write_rhythmic_tune(path, root: int, bars: int) -> None:
    """A tune whose rhythm repeats every bar (quarter, two eighths, two sixteenths, ...):
    learnable by a model that counts, not by a dummy that only knows the frequencies."""
    track = mido.MidiTrack()
    for _ in range(bars):
        for step, ticks in ((0, 480), (2, 240), (4, 240), (5, 120), (7, 120), (5, 240),
                            (4, 480), (2, 480)):
            track.append(mido.Message("note_on", note=root + step, velocity=80, time=0))
            track.append(mido.Message("note_off", note=root + step, velocity=0, time=ticks))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["melody", "pitch-duration"])
def test_train_small_beats_its_baselines(tmp_path, kind):
    tunes = tmp_path / "tunes"
    tunes.mkdir()
    for index in range(120):
        write_rhythmic_tune(tunes / f"tune{index:03d}.mid", 55 + index % 12, 2 + index // 12)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train-small", kind, "--out", str(run), "--midi-dir",
                                      str(tunes), "--epochs", "2", "--steps-per-epoch", "40",
                                      "--batch-size", "8", "--window", "32", "--workers", "1"])
    assert result.exit_code == 0, result.output
    _, checkpoint = load_checkpoint(run / "best.pt")
    metrics = checkpoint["metrics"]
    docs = tmp_path / "docs"
    result = CliRunner().invoke(app, ["eval", str(run / "best.pt"), "--midi-dir", str(tunes),
                                      "--workers", "1", "--write-docs", str(docs)])
    assert result.exit_code == 0, result.output
    table = (docs / "MODELS.md").read_text()
    assert "run (" + kind + ")" in table and "test melodies" in table
    if kind == "melody":
        assert metrics["test_nll"] < metrics["test_unigram_nll_per_sixteenth"]
        assert "unigram (16th-grid tokens)" in table
    else:
        assert metrics["test_pitch_accuracy"] > metrics["test_dummy_pitch_accuracy"]
        assert metrics["test_duration_accuracy"] > metrics["test_dummy_duration_accuracy"]
        assert "stratified dummy: duration accuracy" in table
