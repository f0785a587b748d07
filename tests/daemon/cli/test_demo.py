"""The demo's machinery over loopback ports with a stand-in model (the real model and real
MIDI ports are exercised in tests/e2e)."""

import os
import signal
import subprocess
import sys
import threading
import time

import mido
import pytest
from daemon_fakes import FakeSession
from rich.console import Console

from antiphon.daemon.cli.demo import DEMO_CALL, choose_transport, run_demo
from antiphon.daemon.cli.demo_report import Note, pair_notes, pitch_name, render_summary
from antiphon.daemon.config.daemon_config import DaemonConfig


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
    for words in ("in-process loopback", "12 notes", "first answer note"):
        assert words in text
    assert f"MIDI file: {path}" in text  # whole, however long the path


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


def test_a_stop_ends_the_demo_mid_answer_with_every_note_released(tmp_path):
    config = DaemonConfig(bpm=240, min_answer_beats=16, max_answer_beats=16)
    stop = threading.Event()
    # A beat of lead-in, the 8-beat call, a beat of silence: the 16-beat answer plays from
    # about 2.5 s to 6.5 s. Stop a second into it.
    threading.Timer(3.5, stop.set).start()
    began = time.monotonic()
    result = run_demo(config, FakeSession(), "loopback", tmp_path / "demo.mid", stop=stop)
    assert time.monotonic() - began < 5.5  # not the answer's full length
    assert len(result.answer) > 0 and result.unmatched_note_ons == 0


def test_a_stop_signal_ends_the_demo_command_cleanly(tmp_path):
    """The real command with the shipped model and a real SIGTERM: its own message and
    status, no traceback."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "antiphon", "demo", "--transport", "loopback", "--output",
         str(tmp_path / "demo.mid")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "COLUMNS": "200"})
    line = demo.stdout.readline()
    while line and "playing a two-bar call" not in line:
        line = demo.stdout.readline()
    assert line, demo.communicate(timeout=60)
    time.sleep(0.5)
    demo.send_signal(signal.SIGTERM)
    out, err = demo.communicate(timeout=30)
    assert demo.returncode == 130, out + err
    assert "stopped by a signal" in err and "the notes were released" in err, err
    assert "Traceback" not in out + err
