"""The demo's machinery over loopback ports with a stand-in model (the real model and real
MIDI ports are exercised in tests/e2e)."""

import mido
import pytest
from daemon_fakes import FakeSession
from rich.console import Console

from antiphon.daemon.cli.demo import DEMO_CALL, choose_transport, run_demo
from antiphon.daemon.cli.demo_report import Note, pair_notes, pitch_name, render_summary
from antiphon.daemon.service.config import DaemonConfig


def test_demo_over_loopback_records_call_and_answer(tmp_path):
    config = DaemonConfig(bpm=240, max_answer_beats=4)
    path = tmp_path / "out" / "demo.mid"
    result = run_demo(config, FakeSession(), "loopback", path)
    assert result.transport == "in-process loopback ports"
    assert [note.pitch for note in result.call] == [pitch for _, _, pitch, _ in DEMO_CALL]
    assert result.call_end_beats == pytest.approx(7.75, abs=0.05)
    assert len(result.answer) > 0 and result.unmatched_note_ons == 0
    # silence (1 beat) + to the next beat: 1.25 beats after a call ending on 7.75
    assert result.first_answer_delay_beats == pytest.approx(1.25, abs=0.1)
    assert result.answer_duration_beats <= 4.0 + 0.05
    midi = mido.MidiFile(path)
    assert midi.type == 1 and [track.name for track in midi.tracks] == ["Call", "Answer"]
    ons = [sum(1 for m in track if m.type == "note_on") for track in midi.tracks]
    assert ons == [len(result.call), len(result.answer)]
    console = Console(record=True, width=100)
    render_summary(result, console)
    text = console.export_text()
    for words in ("in-process loopback", "12 notes", "first answer note", "demo.mid"):
        assert words in text


def test_transport_choice():
    assert choose_transport("loopback", "auto") == "loopback"
    with pytest.raises(ValueError, match="transport"):
        choose_transport("pigeon", "auto")


def test_pair_notes():
    notes, unmatched = pair_notes([
        (0.0, [0x90, 60, 100]), (0.5, [0x90, 60, 90]), (1.0, [0x80, 60, 0]),
        (1.0, [0x90, 64, 80]), (2.0, [0xB0, 7, 100]),
    ])
    assert notes == [Note(0.0, 0.5, 60, 100), Note(0.5, 1.0, 60, 90), Note(1.0, 2.0, 64, 80)]
    assert unmatched == 1
    assert pitch_name(60) == "C4" and pitch_name(70) == "A#4"
