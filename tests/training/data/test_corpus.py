"""Corpus import: real music21 corpus files, real MIDI files written with mido, the split,
and the cache. Nothing is mocked; each test makes its own files in tmp_path."""

from __future__ import annotations

import random
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.training.data.corpus import (
    Piece,
    check_well_formed,
    corpus_stats,
    import_corpus,
    pieces_from_table,
    split_of,
    split_pieces,
)
from antiphon.training.data.event_tables import ImportReport, notes_to_events
from antiphon.training.data.midi_folder import import_midi_folder
from antiphon.training.data.music21_import import (
    ParseTask,
    cache_path,
    default_cache_dir,
    import_music21_corpus,
    parse_task,
    parse_tasks,
)


def onsets(events: list[NoteEvent]) -> list[tuple[int, int]]:
    return [(e.tick, e.pitch) for e in events if e.velocity > 0]


def note_list(events: list[NoteEvent]) -> list[tuple[int, int, int, int]]:
    """(start, end, pitch, velocity) per note, from well-formed events."""
    started: dict[int, NoteEvent] = {}
    notes = []
    for event in events:
        if event.velocity > 0:
            started[event.pitch] = event
        else:
            on = started.pop(event.pitch)
            notes.append((on.tick, event.tick, event.pitch, on.velocity))
    return sorted(notes)


# --- normalisation --------------------------------------------------------------------------

def test_notes_struck_together_on_one_pitch_merge() -> None:
    events = notes_to_events(np.array([[0, 24, 60, 70], [0, 48, 60, 90]]))
    assert events.tolist() == [[0, 60, 90], [48, 60, 0]]


def test_a_pitch_struck_while_sounding_is_restruck_and_held() -> None:
    events = notes_to_events(np.array([[0, 48, 60, 80], [24, 36, 60, 80]]))
    assert events.tolist() == [[0, 60, 80], [24, 60, 0], [24, 60, 80], [48, 60, 0]]


def test_zero_length_and_out_of_range_notes_are_dropped() -> None:
    events = notes_to_events(np.array([[5, 5, 60, 80], [0, 24, 128, 80], [0, 24, -1, 80],
                                       [0, 24, 64, 0]]))
    assert events.tolist() == [[0, 64, 1], [24, 64, 0]]  # velocity 0 is clamped to 1


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 30), st.integers(58, 62),
                          st.integers(1, 127)), max_size=30))
def test_normalised_events_are_well_formed_and_sound_where_the_notes_do(notes) -> None:
    array = np.array([[s, s + d, p, v] for s, d, p, v in notes], dtype=np.int64).reshape(-1, 4)
    events = [NoteEvent(*row) for row in notes_to_events(array).tolist()]
    check_well_formed(events)
    sounding_in = {(t, p) for s, d, p, _ in notes for t in range(s, s + d)}
    sounding_out = {(t, p) for s, e, p, _ in note_list(events) for t in range(s, e)}
    assert sounding_out == sounding_in
    assert set(onsets(events)) == {(s, p) for s, d, p, _ in notes if d > 0}


# --- MIDI folders -----------------------------------------------------------------------------

def write_midi(path: Path, tracks: list[list[tuple[int, mido.Message]]],
               ticks_per_beat: int = 480) -> None:
    """A type 1 file; each track is (absolute tick, message) pairs in order."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for messages in tracks:
        track = mido.MidiTrack()
        last = 0
        for tick, message in messages:
            track.append(message.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)


def on(pitch: int, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=pitch, channel=channel)


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "songs"
    # 480 ticks per beat; a zero-velocity note-on ends E4; a drum hit on channel 10
    write_midi(folder / "a.mid", [[
        (0, on(60)), (0, on(36, channel=9)), (240, off(36, channel=9)), (480, off(60)),
        (480, on(64, 90)), (960, on(64, 0)),
    ]])
    # 96 ticks per beat, two tracks, nested two folders deep; C5 is never released
    write_midi(folder / "nested" / "deeper" / "b.MIDI", [
        [(48, on(67, 70)), (144, off(67))],
        [(96, on(72, 60, channel=1)),
         (384, mido.Message("control_change", channel=1, control=64, value=0))],
    ], ticks_per_beat=96)
    write_midi(folder / "drums.mid", [[(0, on(38, channel=9)), (96, off(38, channel=9))]])
    (folder / "corrupt.mid").write_bytes(b"this is not a MIDI file at all")
    whole = (folder / "a.mid").read_bytes()
    (folder / "nested" / "truncated.mid").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.txt").write_text("not music")
    return folder


def test_midi_folder_imports_good_files_and_reports_bad_ones(midi_folder: Path) -> None:
    table, report = import_midi_folder(midi_folder, workers=1)
    pieces = {piece.id: piece for piece in pieces_from_table(table)}

    assert report.files == 5 and report.pieces == 2 and not report.from_cache
    assert sorted(pieces) == ["songs/a.mid", "songs/nested/deeper/b.MIDI"]
    reasons = dict(report.skipped)
    assert sorted(reasons) == ["songs/corrupt.mid", "songs/drums.mid", "songs/nested/truncated.mid"]
    assert reasons["songs/corrupt.mid"].startswith("OSError")
    assert reasons["songs/nested/truncated.mid"].startswith("EOFError")
    assert reasons["songs/drums.mid"].startswith("no notes")
    assert "3 skipped" in str(report)

    # drums gone; the zero-velocity note-on ended E4 one beat after it started
    assert pieces["songs/a.mid"].events == [
        NoteEvent(0, 60, 100), NoteEvent(24, 60, 0), NoteEvent(24, 64, 90), NoteEvent(48, 64, 0)]
    # 96 file ticks per beat: tick 48 is half a beat; the unreleased C5 ends with the file
    assert pieces["songs/nested/deeper/b.MIDI"].events == [
        NoteEvent(12, 67, 70), NoteEvent(24, 72, 60), NoteEvent(36, 67, 0), NoteEvent(96, 72, 0)]
    for piece in pieces.values():
        assert piece.source == "midi:songs"
        check_well_formed(piece.events)


def test_midi_times_round_to_the_grid_and_short_notes_keep_a_tick(tmp_path: Path) -> None:
    # 1000 ticks per beat: 41.67 file ticks per grid tick
    write_midi(tmp_path / "m" / "odd.mid", [[
        (0, on(60)), (10, off(60)),  # far shorter than a tick: kept, one tick long
        (1020, on(62)), (1500, off(62)),  # 24.48 -> 24, 36 -> 36
        (2000, on(64)), (2000, off(64)),  # no length at all: not a note
    ]], ticks_per_beat=1000)
    table, report = import_midi_folder(tmp_path / "m", workers=1)
    (piece,) = pieces_from_table(table)
    assert note_list(piece.events) == [(0, 1, 60, 100), (24, 36, 62, 100)]


def test_midi_folder_in_worker_processes_matches_one_process(midi_folder: Path) -> None:
    serial, _ = import_midi_folder(midi_folder, workers=1)
    parallel, report = import_midi_folder(midi_folder, workers=2)
    assert parallel.ids == serial.ids and report.pieces == 2
    assert np.array_equal(parallel.events, serial.events)
    assert np.array_equal(parallel.offsets, serial.offsets)


def test_a_piece_twice_is_kept_once(tmp_path: Path) -> None:
    tune = [[(0, on(60)), (480, off(60)), (480, on(62)), (960, off(62))]]
    write_midi(tmp_path / "dups" / "first.mid", tune)
    write_midi(tmp_path / "dups" / "copy" / "second.mid", tune, ticks_per_beat=96 * 5)
    result = import_corpus([], [tmp_path / "dups"], workers=1)
    assert [p.id for p in result.pieces] == ["dups/copy/second.mid"]  # first in path order
    assert result.reports[0].skipped == [
        ("dups/first.mid", "duplicate: same notes as dups/copy/second.mid")]
    assert len(import_corpus([], [tmp_path / "dups"], workers=1,
                             drop_duplicates=False).pieces) == 2


def test_missing_midi_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="does not exist"):
        import_midi_folder(tmp_path / "nowhere")


# --- split ------------------------------------------------------------------------------------

def test_split_depends_on_the_id_alone() -> None:
    pieces = [Piece(f"corpus/tune{i}.abc#{i}", "test", []) for i in range(4000)]
    full = {p.id: name for name, split in split_pieces(pieces).items() for p in split}
    shuffled = pieces[:]
    random.Random(7).shuffle(shuffled)
    again = {p.id: name for name, split in split_pieces(shuffled).items() for p in split}
    subset = {p.id: name for name, split in split_pieces(shuffled[:300]).items() for p in split}

    assert again == full
    assert all(full[piece_id] == name for piece_id, name in subset.items())
    sizes = {name: sum(1 for n in full.values() if n == name) for name in ("valid", "test")}
    assert 0.035 * 4000 < sizes["valid"] < 0.065 * 4000
    assert 0.035 * 4000 < sizes["test"] < 0.065 * 4000
    assert split_pieces([]) == {"train": [], "valid": [], "test": []}


@pytest.mark.parametrize("count", [3, 5, 20])
def test_a_small_corpus_still_has_valid_and_test_pieces(count) -> None:
    pieces = [Piece(f"tunes/tune{i}.mid", "test", []) for i in range(count)]
    splits = split_pieces(pieces)
    assert splits["valid"] and splits["test"], {k: len(v) for k, v in splits.items()}
    assert sorted(p.id for split in splits.values() for p in split) == sorted(p.id for p in pieces)
    assert split_pieces(list(reversed(pieces))) == {
        name: list(reversed(split)) for name, split in splits.items()}
    assert split_pieces(pieces, valid=0, test=0)["train"] == pieces  # no split asked for


def test_split_fractions_are_checked() -> None:
    assert split_of("anything", valid=0, test=0) == "train"
    with pytest.raises(ValueError, match="valid and test"):
        split_of("anything", valid=0.6, test=0.5)


# --- statistics -------------------------------------------------------------------------------

def test_corpus_stats_counts_notes_and_beats() -> None:
    pieces = [Piece("a", "t", [NoteEvent(0, 60, 80), NoteEvent(48, 60, 0)]), Piece("b", "t", [])]
    stats = corpus_stats(pieces)
    assert (stats.pieces, stats.notes, stats.beats) == (2, 1, 48 / TICKS_PER_BEAT)


# --- music21 corpus ---------------------------------------------------------------------------

def test_cache_dir_comes_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path


@pytest.mark.slow
def test_oneills_tunes_parse_and_the_cache_round_trips(tmp_path: Path) -> None:
    table, report = import_music21_corpus("oneills1850", tmp_path, workers=1, limit=2)
    assert not report.from_cache and report.pieces == 2
    assert table.ids == ["oneills1850/0001-0050.abc#1", "oneills1850/0001-0050.abc#2"]
    first = pieces_from_table(table)
    # "The Enchanted Valley", L:1/16, K:Gm: G3-A (Bcd=e) | f4 -- the "-" joins two pitches,
    # so it is no tie: G lasts 3/16 (18 ticks) and the A after it is kept
    assert note_list(first[0].events)[:7] == [
        (0, 18, 67, 80), (18, 24, 69, 80), (24, 30, 70, 80), (30, 36, 72, 80),
        (36, 42, 74, 80), (42, 48, 76, 80), (48, 72, 77, 80)]
    for piece in first:
        check_well_formed(piece.events)
        assert all(50 <= e.pitch <= 100 for e in piece.events)

    cache = cache_path(tmp_path, "oneills1850", limit=2)
    written = cache.stat().st_mtime_ns
    again, report_again = import_music21_corpus("oneills1850", tmp_path, workers=1, limit=2)
    assert report_again.from_cache and report_again.pieces == 2
    assert pieces_from_table(again) == first
    assert cache.stat().st_mtime_ns == written  # read, not parsed and written again

    cache.write_bytes(b"not an npz")  # a damaged cache is parsed again, not trusted
    repaired, report_repaired = import_music21_corpus("oneills1850", tmp_path, workers=1,
                                                      limit=2)
    assert not report_repaired.from_cache
    assert pieces_from_table(repaired) == first


@pytest.mark.slow
def test_bach_chorale_is_polyphonic_and_analyses_are_left_out(tmp_path: Path) -> None:
    result = import_corpus(["bach"], cache_dir=tmp_path, workers=1, limit=1)
    (piece,) = result.pieces
    (report,) = result.reports
    assert piece.id == "bach/bwv1.6.mxl" and piece.source == "bach"
    check_well_formed(piece.events)
    # horn, soprano, alto, tenor, bass; horn and soprano begin in unison on F4
    assert {p for t, p in onsets(piece.events) if t == 0} == {53, 57, 60, 65}
    assert {p for t, p in onsets(piece.events) if t == TICKS_PER_BEAT} == {52, 55, 60, 67, 72}
    reasons = dict(report.skipped)
    assert reasons["bach/bwv277.krn"] == "duplicate encoding: bach/bwv277.mxl"
    assert reasons["bach/choraleAnalyses/riemenschneider001.rntxt"].startswith("not a score")


@pytest.mark.slow
def test_a_tune_music21_cannot_parse_is_skipped_with_its_reason() -> None:
    (result,) = parse_task(ParseTask("test/bad.abc#1", Path("bad.abc"), "X:1\nL:1/0\nK:C\nCDE|"))
    piece_id, events, reason = result
    assert piece_id == "test/bad.abc#1" and events is None
    assert reason.startswith("ZeroDivisionError")


@pytest.mark.slow
def test_abc_file_splits_into_tunes_and_accidentals_hold_to_the_bar_line(tmp_path: Path) -> None:
    abc = tmp_path / "tunes" / "two.abc"
    abc.parent.mkdir()
    abc.write_text("% a file header\nL:1/4\n\nX:1\nT:One\nK:C\n^FF|F c|\n\n"
                   "X:7\nT:Two\nK:F\nB2 =B B|B4|\n")
    report = ImportReport("test")
    tasks = parse_tasks([abc], report)
    assert [task.piece_id for task in tasks] == ["tunes/two.abc#1", "tunes/two.abc#7"]
    (one,), (two,) = (parse_task(task) for task in tasks)
    events = [NoteEvent(*row) for row in one[1].tolist()]
    assert onsets(events) == [(0, 66), (24, 66), (48, 65), (72, 72)]  # ^F holds, then resets
    events = [NoteEvent(*row) for row in two[1].tolist()]
    # L:1/4 comes from the file header; K:F flattens B until =B, which holds to the bar line
    assert onsets(events) == [(0, 70), (48, 71), (72, 71), (96, 70)]


@pytest.mark.slow
def test_load_corpus_mixes_music21_and_midi_sources(tmp_path: Path, midi_folder: Path) -> None:
    result = import_corpus(["essenFolksong"], [midi_folder], cache_dir=tmp_path, workers=1,
                           limit=5)  # per source; the folder holds 5 files, 2 of them good
    assert [r.source for r in result.reports] == ["essenFolksong", "midi:songs"]
    assert [p.source for p in result.pieces] == ["essenFolksong"] * 5 + ["midi:songs"] * 2
    for piece in result.pieces:
        check_well_formed(piece.events)
        assert all(e.tick >= 0 for e in piece.events)
    # Das Hildebrandslied, L:1/4, K:G: G2 | _B2B2c2c2 -- the flat holds for the second B
    hildebrand = result.pieces[0]
    assert hildebrand.id == "essenFolksong/altdeu10.abc#1"
    assert onsets(hildebrand.events)[:5] == [(0, 67), (48, 70), (96, 70), (144, 72), (192, 72)]
