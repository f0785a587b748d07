"""`antiphon prepare --rolls`: corpora and MIDI folders as a piano-roll benchmark file,
split as the token pipeline splits them, that every family trains and is scored on."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.codec import EventCodec  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.training.data.benchmarks import frames_per_beat, load_benchmark  # noqa: E402
from antiphon.training.data.rolls import events_roll  # noqa: E402
from antiphon.training.fit.token_pipeline import prepare_splits  # noqa: E402

SCALE_STEPS = (0, 2, 4, 5, 7, 5, 4, 2)  # what write_tune plays, an eighth note each


def test_notes_snap_to_sixteenths_and_keys_outside_the_piano_are_dropped():
    events = [NoteEvent(12, 60, 80), NoteEvent(24, 60, 0),  # an eighth, a beat late
              NoteEvent(30, 64, 80), NoteEvent(32, 64, 0),  # shorter than a 16th: one frame
              NoteEvent(36, 120, 80), NoteEvent(48, 120, 0)]  # above C8: dropped
    roll, dropped = events_roll(events)
    assert dropped == 2
    assert roll.shape == (6, 88)  # from the first event (tick 12) to the last (48)
    assert np.flatnonzero(roll[:, 60 - 21]).tolist() == [0, 1]
    assert np.flatnonzero(roll[:, 64 - 21]).tolist() == [3]
    assert roll.sum() == 3


def test_prepare_rolls_writes_the_token_split_as_a_benchmark(tunes, tmp_path):  # noqa: F811
    """A MIDI folder to memory-mapped rolls, in worker processes: the pieces and the split
    of the token pipeline, a benchmark that `load_benchmark` opens."""
    out = tmp_path / "tunes-rolls"
    result = CliRunner().invoke(app, ["prepare", str(tunes), "--rolls", "--out", str(out),
                                      "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "1 duplicates and 1 unreadable files skipped" in result.output
    rolls = load_benchmark(out)
    assert frames_per_beat(out) == 4
    assert all(isinstance(roll.base, np.memmap) or isinstance(roll, np.memmap)
               for roll in rolls["train"])  # on disk, not in RAM
    splits, _ = prepare_splits([], [tunes], EventCodec(), workers=1,
                               cache_dir=tmp_path / "cache")
    assert {name: len(split) for name, split in rolls.items()} == {
        name: split.pieces for name, split in splits.items()}  # the same pieces, same split
    for roll in rolls["test"]:  # each tune: bars of eight eighths, one key at a time
        assert len(roll) % 16 == 0 and (roll.sum(axis=1) == 1).all()
        keys = np.asarray(roll).argmax(axis=1)[::2]  # one per eighth note
        steps = (keys - keys[0]).reshape(-1, 8)
        assert (steps == np.array(SCALE_STEPS)).all()


def test_a_folder_that_is_not_prepared_rolls_is_refused(tunes, tmp_path):  # noqa: F811
    tokens = tmp_path / "tokens"
    assert CliRunner().invoke(app, ["prepare", str(tunes), "--out", str(tokens),
                                    "--workers", "1"]).exit_code == 0
    with pytest.raises(ValueError, match="antiphon-prepared-rolls"):
        load_benchmark(tokens)


def test_a_rolls_column_says_what_it_holds():
    from antiphon.training.evaluation.model_table import dataset_title

    assert dataset_title("bach-rolls") == "bach as rolls, 16th-note frames"
    assert dataset_title("jsb") == "JSB chorales"
