"""`antiphon demo` end to end with the shipped model: over JACK, and over the loopback."""

import subprocess

import mido
import pytest
from e2e_support import antiphon_command, backend_args, e2e_model_path


def run_demo(tmp_path, env, *args):
    output = tmp_path / "demo.mid"
    result = subprocess.run(
        antiphon_command("demo", "--model", str(e2e_model_path()), "--seed", "3",
                         "--output", str(output), *args),
        env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    midi = mido.MidiFile(output)
    assert [track.name for track in midi.tracks] == ["Call", "Answer"]
    call_notes, answer_notes = (
        sum(1 for message in track if message.type == "note_on") for track in midi.tracks)
    assert call_notes == 12 and answer_notes > 0
    assert "first answer note" in result.stdout
    assert "notes left sounding" not in result.stdout
    return result.stdout


@pytest.mark.jack
def test_demo_over_jack(jack_server, tmp_path, report_measurement):
    summary = run_demo(tmp_path, jack_server.env, "--transport", "midi", *backend_args())
    assert "jack MIDI ports" in summary
    line = next(line for line in summary.splitlines() if "first answer note" in line)
    report_measurement("demo over JACK", " ".join(line.replace("│", " ").split()))


def test_demo_over_loopback(tmp_path):
    import os

    summary = run_demo(tmp_path, dict(os.environ), "--transport", "loopback")
    assert "in-process loopback" in summary
