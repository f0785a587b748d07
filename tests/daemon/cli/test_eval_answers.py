"""`antiphon eval answers` end to end: tiny real .mid files made with mido, answered by the
shipped default model through the real command line; `antiphon eval MODEL` still routed to
the model scores; bad options end in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mido
import pytest
from typer.testing import CliRunner

pytest.importorskip("muspy")

from antiphon.daemon.cli.app import app  # noqa: E402

RESOLUTION = 480
SCALE_UP = [60, 62, 64, 65, 67, 69, 71, 72]
A_MINOR = [69, 71, 72, 74, 76, 74, 72, 71]
ARPEGGIO = [67, 64, 67, 72, 71, 67, 64, 62]


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    """No config file or ANTIPHON_ variable of the machine's steers these answers."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for variable in [name for name in os.environ if name.startswith("ANTIPHON_")]:
        monkeypatch.delenv(variable)


def write_tune(path: Path, pitches: list[int], chords: bool = False) -> Path:
    """Four bars of 4/4, a note (or a triad under it) a beat, twice through `pitches`."""
    midi = mido.MidiFile(ticks_per_beat=RESOLUTION)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    for pitch in pitches * 2:
        notes = [pitch, pitch - 5, pitch - 9] if chords else [pitch]
        track.extend(mido.Message("note_on", note=n, velocity=80) for n in notes)
        track.extend(mido.Message("note_off", note=n, time=RESOLUTION if i == 0 else 0)
                     for i, n in enumerate(notes))
    midi.tracks.append(track)
    midi.save(path)
    return path


@pytest.fixture
def tunes(tmp_path) -> Path:
    folder = tmp_path / "tunes"
    folder.mkdir()
    write_tune(folder / "scale.mid", SCALE_UP)
    write_tune(folder / "minor.mid", A_MINOR)
    write_tune(folder / "thirds.mid", [64, 65, 67, 69, 67, 65, 64, 62])
    write_tune(folder / "chords.mid", ARPEGGIO, chords=True)
    return folder


def test_answers_measured_beside_the_real_continuations(tunes, tmp_path):
    report = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "eval", "answers", "--midi-dir", str(tunes), "--markdown", str(report / "t.md"),
        "--json", str(report / "t.json"), "--picture", str(report / "t.png")])
    assert result.exit_code == 0, result.output
    assert "3 single-line calls" in result.output and "1 calls of chords" in result.output
    assert "relevance AUC" in result.output and "check: " in result.output
    markdown = (report / "t.md").read_text()
    assert markdown.startswith(
        f"<!-- eval:answers -->\n## Answers\n\n`antiphon eval answers --midi-dir {tunes}`")
    assert "| notes per beat |" in markdown
    assert "](t.png)" in markdown  # the picture, linked from beside it
    assert (report / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((report / "t.json").read_text())
    (model,) = saved["models"]
    assert model["model"] == "default"
    groups = {group["group"]: group for group in model["groups"]}
    melodies, chords = groups["single-line calls"], groups["calls of chords"]
    assert sorted(call["tune"] for call in melodies["calls"]) == [
        "minor.mid", "scale.mid", "thirds.mid"]
    # The real continuations are the files' bars 3-4: a note a beat, in the key.
    for call in melodies["calls"]:
        assert call["real"]["notes_per_beat"] == 1.0 and call["real"]["polyphony"] == 1.0
        assert call["start_tick"] == 2 * 4 * 24 and call["length_ticks"] == 2 * 4 * 24
    assert chords["calls"][0]["real"]["polyphony"] == 3.0
    # The real continuation, a copy of the call's pitches, is the call's best answer.
    assert melodies["relevance_auc_ceiling"] == 1.0
    assert {part["part"].split()[0] for part in melodies["check"]} == {
        "in", "notes", "mean", "relevance"}
    assert chords["check"][0]["part"].startswith("polyphony")


def test_the_tables_go_between_their_markers_in_a_document_that_exists(tunes, tmp_path):
    document = tmp_path / "MODELS.md"
    document.write_text("# Models\n\nthe likelihood table\n")
    for _ in range(2):  # written twice: replaced, not added again
        result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(tunes),
                                          "--markdown", str(document)])
        assert result.exit_code == 0, result.output
    text = document.read_text()
    assert text.startswith("# Models\n\nthe likelihood table\n")
    assert text.count("<!-- eval:answers -->") == 1 and text.count("| notes per beat |") == 2
    assert text.rstrip().endswith("<!-- /eval:answers -->")


def test_each_collection_is_shown_apart_too(tunes, tmp_path):
    more = tmp_path / "more"
    more.mkdir()
    write_tune(more / "down.mid", SCALE_UP[::-1])
    write_tune(more / "again.mid", A_MINOR[::-1])
    report = tmp_path / "t.md"
    result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(tunes),
                                      "--midi-dir", str(more), "--markdown", str(report)])
    assert result.exit_code == 0, result.output
    markdown = report.read_text()
    assert "5 single-line calls (midi:more, midi:tunes)" in markdown
    assert "| midi:more | 2 |" in markdown and "| midi:tunes | 3 |" in markdown


def test_settings_reach_the_answers_and_a_seed_repeats_them(tunes, tmp_path):
    def answered(name: str, *options: str) -> dict:
        path = tmp_path / name
        result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(tunes),
                                          "--json", str(path), *options])
        assert result.exit_code == 0, result.output
        return json.loads(path.read_text())["models"][0]

    first = answered("a.json", "--texture", "melody", "--seed", "3")
    again = answered("b.json", "--texture", "melody", "--seed", "3")
    assert first == again
    assert "seed 3" in first["settings"] and "texture melody" in first["settings"]
    (chords,) = [g for g in first["groups"] if g["group"] == "calls of chords"]
    answer = chords["calls"][0]["answer"]
    assert answer["polyphony"] is None or answer["polyphony"] == 1.0  # one voice asked


def test_eval_with_a_model_still_scores_models(tunes):
    # Routed to `antiphon eval models`, whose model lookup names what is missing.
    result = CliRunner().invoke(app, ["eval", "no-such-model", "--midi-dir", str(tunes)])
    assert result.exit_code == 1
    assert "no-such-model" in result.output and "Traceback" not in result.output
    help_text = CliRunner().invoke(app, ["eval", "--help"]).output
    assert "answers" in help_text and "models" in help_text
    assert CliRunner().invoke(app, ["eval", "keys", "--help"]).exit_code == 0


@pytest.mark.parametrize("options, code, words", [
    (["--calls", "0"], 2, "--calls"),
    (["--bars", "9"], 2, "--bars"),
    (["--picture", "out.jpg"], 2, ".png"),
    (["--model", "no-such-model"], 1, "no-such-model"),
    (["--temperature", "-1"], 2, "temperature"),
])
def test_bad_options_say_so_in_a_line(tunes, options, code, words):
    result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(tunes), *options])
    assert result.exit_code == code, result.output
    assert words in result.output and "Traceback" not in result.output


def test_a_folder_of_no_usable_file_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(empty)])
    assert result.exit_code == 1 and "no .mid files" in result.output
    write_tune(empty / "short.mid", SCALE_UP[:4])  # one bar: no continuation
    result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(empty)])
    assert result.exit_code == 1 and "lasts 4 bars" in result.output
    (empty / "broken.mid").write_bytes(b"not midi")
    result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(empty)])
    assert result.exit_code == 1 and "not a MIDI file" in result.output


def test_best_of_n_reaches_the_answers_one_table_per_count(tunes, tmp_path):
    result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(tunes),
                                      "--candidates", "1", "--candidates", "4",
                                      "--markdown", str(tmp_path / "t.md"),
                                      "--json", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "t.md").read_text()
    assert "--candidates 1 --candidates 4" in markdown.splitlines()[3]
    assert "one draw" in markdown and "best of 4" in markdown
    one, four = json.loads((tmp_path / "t.json").read_text())["models"]
    answers = [[call["answer"] for call in model["groups"][0]["calls"]] for model in (one, four)]
    assert answers[0] != answers[1]  # the best of four is not the first draw


@pytest.mark.parametrize("count", ["0", "17"])
def test_a_count_of_candidates_out_of_range_is_one_line(tunes, count):
    result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(tunes),
                                      "--candidates", count])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: --candidates must be 1-16, got {count}"]


def test_calls_in_any_key_have_a_section_of_their_own(tunes, tmp_path):
    document = tmp_path / "MODELS.md"
    for extra in ([], ["--any-key"]):
        result = CliRunner().invoke(app, ["eval", "answers", "--midi-dir", str(tunes),
                                          "--markdown", str(document), *extra])
        assert result.exit_code == 0, result.output
    text = document.read_text()
    written, any_key = text.split("<!-- eval:answers-any-key -->", 1)
    assert "## Answers\n" in written and "calls in any key" not in written
    assert "## Answers to calls in any key" in any_key
    assert "`antiphon eval answers --midi-dir" in any_key and "--any-key`" in any_key
    assert "calls in any key, best of" in any_key  # the tables say what they measured
