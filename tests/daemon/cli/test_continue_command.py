"""`antiphon continue`: real .mid files made with mido, the shipped default model, through
the real command line."""

from __future__ import annotations

import os
from pathlib import Path

import mido
import pytest
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.daemon.cli.demo import DEMO_CALL

RESOLUTION = 480


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    """No config file or ANTIPHON_ variable of the machine's steers these answers."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for variable in [name for name in os.environ if name.startswith("ANTIPHON_")]:
        monkeypatch.delenv(variable)


def write_call(path: Path, notes=DEMO_CALL, bpm: float | None = 100.0, drums=True,
               second_track=True) -> Path:
    """The demo's call on one track, a bass note on another, a drum track on channel 10."""
    midi = mido.MidiFile(type=1, ticks_per_beat=RESOLUTION)
    meta = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))] if bpm else []
    midi.tracks.append(_track([(0, 0, m) for m in meta] + _notes(notes, channel=0)))
    if second_track:
        midi.tracks.append(_track(_notes([(0.0, 4.0, 48, 70)], channel=1)))
    if drums:
        midi.tracks.append(_track(_notes([(beat, 0.1, 36, 100) for beat in range(12)],
                                         channel=9)))
    midi.save(path)
    return path


def _notes(notes, channel):
    timed = []
    for start, length, pitch, velocity in notes:
        timed.append((round(start * RESOLUTION), 1, mido.Message(
            "note_on", channel=channel, note=pitch, velocity=velocity)))
        timed.append((round((start + length) * RESOLUTION), 0, mido.Message(
            "note_off", channel=channel, note=pitch)))
    return timed


def _track(timed):
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(timed, key=lambda item: item[:2]):
        track.append(message.copy(time=tick - now))
        now = tick
    return track


def notes_of(track, resolution=RESOLUTION):
    """(start beat, end beat, pitch, channel) of each note; fails on a note-on left
    sounding or a note-off of nothing."""
    tick, sounding, notes = 0, {}, []
    for message in track:
        tick += message.time
        if message.type == "note_on" and message.velocity:
            key = (message.channel, message.note)
            assert key not in sounding, f"{key} struck again before its release"
            sounding[key] = tick
        elif message.type in ("note_on", "note_off"):
            key = (message.channel, message.note)
            start = sounding.pop(key)  # a release of nothing sounding fails here
            notes.append((start / resolution, tick / resolution, message.note, message.channel))
    assert not sounding, f"note-ons without note-offs: {sounding}"
    return sorted(notes)


def run(*args):
    result = CliRunner().invoke(app, ["continue", *map(str, args)])
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Three variations of two bars of the demo's call, seeded, twice."""
    folder = tmp_path_factory.mktemp("continue")
    call = write_call(folder / "call.mid")
    results = []
    for name in ("a.mid", "b.mid"):
        result = CliRunner().invoke(app, ["continue", str(call), "-o", str(folder / name),
                                          "--variations", "3", "--bars", "2", "--seed", "7"])
        assert result.exit_code == 0, result.output
        results.append((result, mido.MidiFile(folder / name)))
    return results


def test_one_track_per_variation_after_the_call(three):
    result, midi = three[0]
    assert midi.type == 1 and midi.ticks_per_beat == RESOLUTION
    assert [track.name for track in midi.tracks] == ["call", "answer 1", "answer 2", "answer 3"]
    tempos = [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(100.0)]  # the call file's tempo
    call = notes_of(midi.tracks[0])
    # The two note tracks merged, the drums left out; the call kept where it was.
    assert sorted(pitch for *_, pitch, _ in call) == sorted(
        [pitch for *_, pitch, _ in DEMO_CALL] + [48])
    assert {channel for *_, channel in call} == {0, 1}
    call_end = max(end for _, end, _, _ in call)
    assert call_end == pytest.approx(7.75)
    for track in midi.tracks[1:]:
        answer = notes_of(track)
        assert len(answer) >= 1
        # On the beat grid where the call ends (beat 8), two bars of 4/4 long at most.
        assert min(start for start, *_ in answer) >= 8.0
        assert max(end for _, end, *_ in answer) <= 16.0 + 1e-9
        assert {channel for *_, channel in answer} == {0}  # --channel's default, 1
    answers = [notes_of(track) for track in midi.tracks[1:]]
    assert len({tuple(answer) for answer in answers}) == 3  # the variations differ
    assert "answer 3:" in result.output and "keeps to" in result.output


def test_a_seed_repeats_every_variation(three):
    (_, first), (_, second) = three
    for one, other in zip(first.tracks, second.tracks, strict=True):
        assert notes_of(one) == notes_of(other)


def test_best_of_n_is_repeatable_and_differs_from_the_first_draw(tmp_path):
    call = write_call(tmp_path / "call.mid")
    answers = {}
    for name, count in (("one", 1), ("best", 6), ("again", 6)):
        result = run(call, "-o", tmp_path / f"{name}.mid", "--seed", "3", "--bars", "2",
                     "--candidates", count)
        assert result.exit_code == 0, result.output
        answers[name] = notes_of(mido.MidiFile(tmp_path / f"{name}.mid").tracks[1])
    assert answers["best"] == answers["again"]
    assert answers["best"] != answers["one"]


def test_length_as_live_tempo_channel_and_bar_grid(tmp_path):
    # A call of 4.7 beats in a file with no tempo: the answer is about as long (5 beats, as
    # antiphon run makes it), from beat 5 by default, and from the downbeat (beat 8) with
    # --answer-on bar.
    call = write_call(tmp_path / "call.mid", notes=DEMO_CALL[:8], bpm=None, drums=False,
                      second_track=False)
    out = tmp_path / "deep" / "out.mid"
    result = run(call, "-o", out, "--seed", "3", "--channel", "5", "--temperature", "0.8")
    assert result.exit_code == 0, result.output
    midi = mido.MidiFile(out)
    assert len(midi.tracks) == 2
    assert [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"] == [mido.bpm2tempo(120)]
    answer = notes_of(midi.tracks[1])
    assert min(start for start, *_ in answer) >= 5.0 and {c for *_, c in answer} == {4}
    assert max(end for _, end, *_ in answer) <= 5.0 + 5.0 + 1e-9
    result = run(call, "-o", out, "--seed", "3", "--answer-on", "bar", "--bpm", "90",
                 "--bars", "1")
    assert result.exit_code == 0, result.output
    midi = mido.MidiFile(out)
    assert [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"] == [mido.bpm2tempo(90)]
    answer = notes_of(midi.tracks[1])
    assert min(start for start, *_ in answer) >= 8.0
    assert max(end for _, end, *_ in answer) <= 12.0 + 1e-9


def write_waltz(path: Path) -> Path:
    """3/4; the pedal holds the G to beat 3; the E is never let go."""
    midi = mido.MidiFile(type=0, ticks_per_beat=96)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=3, denominator=4)])
    for delta, message in [
        (0, mido.Message("control_change", control=64, value=127)),
        (0, mido.Message("note_on", note=67, velocity=80)),
        (48, mido.Message("note_off", note=67)),
        (240, mido.Message("control_change", control=64, value=0)),
        (0, mido.Message("note_on", note=64, velocity=80)),
        (96, mido.Message("note_on", note=60, velocity=80)),
        (96, mido.Message("note_off", note=60)),
    ]:
        track.append(message.copy(time=delta))
    midi.tracks.append(track)
    midi.save(path)
    return path


def _drums_only(path):
    return write_call(path, notes=(), drums=True, second_track=False)


def _tempo_only(path):
    return write_call(path, notes=(), drums=False, second_track=False)


@pytest.mark.parametrize(("make", "words"), [
    (lambda path: path, "no such file"),
    (lambda path: (path.write_bytes(b""), path)[1], "is empty"),
    (lambda path: (path.write_text("a text file, not MIDI\n" * 5), path)[1], "not a MIDI file"),
    (lambda path: (path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01"), path)[1],
     "not a MIDI file"),
    (_drums_only, "no notes to answer"),
    (_tempo_only, "no notes to answer"),
    (lambda path: (path.mkdir(), path)[1], "is a folder"),
])
def test_a_call_that_cannot_be_answered_is_one_line(tmp_path, make, words):
    call = make(tmp_path / "call.mid")
    result = run(call, "-o", tmp_path / "out.mid")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], lines
    assert not (tmp_path / "out.mid").exists()


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_an_output_that_cannot_be_written_is_said_before_sampling(tmp_path, where):
    call = write_call(tmp_path / "call.mid")
    out = tmp_path / "folder" if where == "folder" else tmp_path / "call.mid" / "out.mid"
    if where == "folder":
        out.mkdir()
    result = run(call, "-o", out)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write"), lines


@pytest.mark.parametrize("option", [("--variations", "9"), ("--variations", "0"),
                                    ("--bars", "0"), ("--bars", "33"),
                                    ("--temperature", "0"), ("--channel", "17"),
                                    ("--candidates", "0"), ("--candidates", "17")])
def test_out_of_range_options_are_refused(tmp_path, option):
    call = write_call(tmp_path / "call.mid")
    result = run(call, "-o", tmp_path / "out.mid", *option)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and option[0] in lines[0], lines
    assert not (tmp_path / "out.mid").exists()


def test_a_waltz_with_the_pedal_and_a_held_note_through_a_piano_roll_model(tmp_path):
    # 3/4: --bars counts bars of 3 beats. The pedal holds the first note to beat 3, and a
    # note the file never releases ends with the call: both in the call track and heard.
    call = write_waltz(tmp_path / "waltz.mid")
    out = tmp_path / "out.mid"
    result = run(call, "-o", out, "--model", "nade-nottingham", "--bars", "2", "--seed", "1",
                 "--variations", "2")
    assert result.exit_code == 0, result.output
    written = mido.MidiFile(out)
    assert written.ticks_per_beat == 96 and len(written.tracks) == 3
    assert [(m.numerator, m.denominator) for m in written.tracks[0]
            if m.type == "time_signature"] == [(3, 4)]
    held = notes_of(written.tracks[0], resolution=96)
    assert (3.0, 5.0, 64, 0) in held  # the unreleased E ends where the call ends
    for track in written.tracks[1:]:
        answer = notes_of(track, resolution=96)
        assert answer and min(start for start, *_ in answer) >= 5.0
        assert max(end for _, end, *_ in answer) <= 5.0 + 6.0 + 1e-9


def test_the_call_is_heard_as_the_loop_hears_a_player(tmp_path):
    from antiphon.daemon.cli.continue_files import read_call
    from antiphon.engine.events import NoteEvent

    call = read_call(write_waltz(tmp_path / "waltz.mid"))
    # In session ticks (24 a beat): the pedal holds the G until it lifts at beat 3, and
    # the E the file never lets go of ends with the call's last message, at beat 5.
    assert call.events == [NoteEvent(0, 67, 80), NoteEvent(72, 67, 0), NoteEvent(72, 64, 80),
                           NoteEvent(96, 60, 80), NoteEvent(120, 60, 0), NoteEvent(120, 64, 0)]
    assert (call.first_strike, call.last_activity, call.notes) == (0, 120, 3)
    assert call.beats_per_bar == 3.0 and call.bpm is None


def test_picture_draws_the_call_and_its_first_answer_beside_the_file(tmp_path):
    from antiphon.daemon.cli.continue_files import read_call, roll_notes

    call = write_call(tmp_path / "call.mid", drums=False, second_track=False)
    out = tmp_path / "out.mid"
    result = run(call, "-o", out, "--seed", "3", "--picture")
    assert result.exit_code == 0, result.output
    drawn = out.with_suffix(".png")
    assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "drew" in result.output
    # What is drawn is what was written: the call's notes on the file's beats.
    heard = read_call(call)
    written = notes_of(mido.MidiFile(out).tracks[0])
    drawn_call = roll_notes(heard.events, heard.origin_ticks)
    assert [(start, pitch) for start, _, pitch, _ in drawn_call] == sorted(
        (start, pitch) for start, _, pitch, *_ in written)
    assert not (tmp_path / "plain.png").exists()
    assert run(call, "-o", tmp_path / "plain.mid", "--seed", "3").exit_code == 0
    assert not (tmp_path / "plain.png").exists()  # no picture unless asked
