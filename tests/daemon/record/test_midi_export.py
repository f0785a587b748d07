"""A take as a .mid: notes at the ticks the tempo map says, read back by mido, every
note-on closed; one track per exchange when asked."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest
from record_helpers import record_take

from antiphon.daemon.record.midi_export import TICKS_PER_BEAT, TempoMap, take_to_midi
from antiphon.daemon.record.take_events import Take, TakeEvent
from antiphon.daemon.record.takes import read_take


def saved(midi: mido.MidiFile, path: Path) -> mido.MidiFile:
    midi.save(path)
    return mido.MidiFile(path)


def absolute(track) -> list[tuple[int, mido.Message]]:
    tick, timed = 0, []
    for message in track:
        tick += message.time
        timed.append((tick, message))
    return timed


def notes_of(track) -> list[tuple[int, str, int]]:
    """(tick, on/off, pitch) of a track's notes."""
    return [(tick, "on" if m.type == "note_on" and m.velocity else "off", m.note)
            for tick, m in absolute(track) if m.type in ("note_on", "note_off")]


def every_note_closed(midi: mido.MidiFile) -> bool:
    for track in midi.tracks:
        sounding = set()
        for _, kind, pitch in notes_of(track):
            if kind == "on":
                if pitch in sounding:
                    return False
                sounding.add(pitch)
            else:
                sounding.discard(pitch)
        if sounding:
            return False
    return True


def test_a_tempo_change_puts_the_notes_on_the_beats_they_were_played_on(tmp_path):
    # 120 BPM for two seconds (four beats), then 60 BPM: a second is one beat.
    call = [(1.0, (0x90, 60, 100)), (1.5, (0x80, 60, 0)), (3.0, (0x90, 62, 100)),
            (4.0, (0x80, 62, 0))]
    answer = [(5.0, (0x90, 67, 80)), (5.5, (0x80, 67, 0))]
    take_id = record_take(tmp_path / "takes", call=call, answer=answer,
                          tempo_changes=[(2.0, 60.0)])
    midi = saved(take_to_midi(read_take(tmp_path / "takes", take_id)), tmp_path / "t.mid")
    assert midi.ticks_per_beat == TICKS_PER_BEAT == 480
    assert [track.name for track in midi.tracks] == ["call", "answer"]
    tempos = [(tick, round(mido.tempo2bpm(m.tempo), 3)) for tick, m in absolute(midi.tracks[0])
              if m.type == "set_tempo"]
    assert tempos == [(0, 120.0), (4 * 480, 60.0)]
    assert notes_of(midi.tracks[0]) == [(2 * 480, "on", 60), (3 * 480, "off", 60),
                                        (5 * 480, "on", 62), (6 * 480, "off", 62)]
    assert notes_of(midi.tracks[1]) == [(7 * 480, "on", 67), (int(7.5 * 480), "off", 67)]
    assert midi.length == pytest.approx(5.5, abs=0.01)  # the map's seconds come back
    assert every_note_closed(midi)


def test_a_note_left_sounding_or_struck_again_is_closed():
    events = (TakeEvent(0.0, "tempo", (), {"bpm": 60.0, "clock": "midi"}),
              TakeEvent(0.5, "call", (0x90, 60, 100)),
              TakeEvent(1.0, "call", (0x90, 60, 90)),  # again, unreleased
              TakeEvent(1.2, "call", (0x80, 61, 0)),  # a release of nothing
              TakeEvent(1.5, "answer", (0xB0, 64, 127)),  # the pedal left down
              TakeEvent(2.0, "answer", (0x91, 70, 80)))
    midi = take_to_midi(Take("x", {}, events, ended=4.0))
    assert notes_of(midi.tracks[0]) == [(240, "on", 60), (480, "off", 60), (480, "on", 60),
                                        (4 * 480, "off", 60)]
    answer = absolute(midi.tracks[1])
    assert [(tick, m.type, m.channel) for tick, m in answer if not m.is_meta] == [
        (720, "control_change", 0), (960, "note_on", 1), (1920, "note_off", 1),
        (1920, "control_change", 0)]
    assert answer[-1][1].value == 0
    assert every_note_closed(midi)


def test_per_exchange_each_track_holds_a_call_and_its_answer(tmp_path):
    def note(seconds, kind, pitch, length=0.25):
        return [TakeEvent(seconds, kind, (0x90, pitch, 100)),
                TakeEvent(seconds + length, kind, (0x80, pitch, 0))]

    def start(seconds):
        return [TakeEvent(seconds, "answer_start", (), {"due": seconds + 0.5, "keeps": ""})]

    events = (*note(0.0, "call", 60), *note(0.5, "call", 62), *start(1.0),
              *note(1.5, "answer", 64, length=3.0),  # held past the barge-in
              *note(2.0, "call", 65), *start(3.0), *note(3.5, "answer", 67),
              *note(4.5, "call", 69))  # a last call, never answered
    midi = saved(take_to_midi(Take("x", {}, events), per_exchange=True), tmp_path / "x.mid")
    assert [track.name for track in midi.tracks] == ["exchange 1", "exchange 2",
                                                     "exchange 3"]
    pitches = [[pitch for _, kind, pitch in notes_of(track) if kind == "on"]
               for track in midi.tracks]
    assert pitches == [[60, 62, 64], [65, 67], [69]]
    assert (int(4.5 * 960), "off", 64) in notes_of(midi.tracks[0])  # its release followed it
    assert every_note_closed(midi)
    two = take_to_midi(Take("x", {}, events))
    assert [[p for _, k, p in notes_of(t) if k == "on"] for t in two.tracks] == \
        [[60, 62, 65, 69], [64, 67]]


def test_the_tempo_map_counts_beats_through_each_change():
    tempo = TempoMap([(0.7, 120.0), (2.0, 120.0), (3.0, 60.0), (5.0, 180.0)])
    assert tempo.changes == ((0.0, 120.0), (3.0, 60.0), (5.0, 180.0))
    assert [tempo.beats(s) for s in (0.0, 1.5, 3.0, 4.0, 5.0, 6.0)] == \
        [0.0, 3.0, 6.0, 7.0, 8.0, 11.0]
    assert TempoMap([]).beats(1.0) == 2.0  # 120 BPM when no tempo was told
