"""`--texture` on the command line: `antiphon continue` on a real .mid file of the demo's
single-line call answers in one voice by default, in chords when asked; a bad value is a
one-line error, from the flag, the environment or a TOML file alike."""

from __future__ import annotations

import os

import mido
import pytest
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.daemon.cli.demo import DEMO_CALL
from antiphon.exported_models import MODELS_DIR

RESOLUTION = 480


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for variable in [name for name in os.environ if name.startswith("ANTIPHON_")]:
        monkeypatch.delenv(variable)


def write_demo_call(path):
    track = mido.MidiTrack()
    timed = []
    for start, length, pitch, velocity in DEMO_CALL:
        timed += [(round(start * RESOLUTION), 1, mido.Message("note_on", note=pitch,
                                                              velocity=velocity)),
                  (round((start + length) * RESOLUTION), 0, mido.Message("note_off",
                                                                         note=pitch))]
    now = 0
    for tick, _, message in sorted(timed, key=lambda item: item[:2]):
        track.append(message.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(ticks_per_beat=RESOLUTION)
    midi.tracks.append(track)
    midi.save(path)
    return path


def answers_most_sounding(path):
    """Per answer track (the call is the first): notes struck, most sounding at once."""
    found = []
    for track in mido.MidiFile(path).tracks[1:]:
        sounding, most, struck = 0, 0, 0
        for message in track:
            if message.type == "note_on" and message.velocity:
                sounding, struck = sounding + 1, struck + 1
            elif message.type in ("note_on", "note_off"):
                sounding -= 1
            most = max(most, sounding)
        found.append((struck, most))
    return found


def continue_demo(tmp_path, *options):
    if not (MODELS_DIR / "default.onnx").exists():
        pytest.skip("the default model is not shipped")
    out = tmp_path / "out.mid"
    result = CliRunner().invoke(app, ["continue", str(write_demo_call(tmp_path / "call.mid")),
                                      "-o", str(out), "--variations", "4", "--seed", "1",
                                      *options])
    assert result.exit_code == 0, result.output
    return result.output, answers_most_sounding(out)


def test_continue_answers_a_line_in_one_voice_by_default(tmp_path):
    output, answers = continue_demo(tmp_path)
    assert output.count("keeps to melody: one voice") == 4
    assert len(answers) == 4 and all(struck > 0 and most == 1 for struck, most in answers)


def test_continue_with_chords_may_answer_a_line_in_chords(tmp_path):
    output, answers = continue_demo(tmp_path, "--texture", "chords")
    assert output.count("keeps to chords: any number of voices") == 4
    assert max(most for _, most in answers) >= 2


@pytest.mark.parametrize("command", [["run"], ["continue", "call.mid", "-o", "out.mid"]])
def test_a_bad_texture_is_a_one_line_error(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for options, env in (([*command, "--texture", "bogus"], {}),
                         (command, {"ANTIPHON_TEXTURE": "thick"})):
        result = CliRunner().invoke(app, options, env=env)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        assert "--texture" in lines[0] and "must be one of auto, melody, chords" in lines[0]
