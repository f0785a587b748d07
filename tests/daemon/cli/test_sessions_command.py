"""`antiphon sessions list|export|show` through the real command line, on takes written by a
real TakeFeed into a real TakeRecorder; bad ids, unsafe folders and unreadable journals end
in one line, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import mido
import pytest
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.daemon.record.feed import TakeFeed
from antiphon.daemon.record.recorder import TakeRecorder
from antiphon.daemon.record.takes import takes_folder

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def record(folder: Path, model: str = "folk", exchanges: int = 1) -> str:
    """A take of `exchanges` calls and answers (a note each) at 120 BPM; its id."""
    recorder = TakeRecorder(folder)
    take_id = recorder.open()
    now = [1000.0]  # the feed stamps what is sent with its clock: set to each moment
    feed = TakeFeed([recorder], now=lambda: now[0])
    t0 = feed.started
    feed.start()
    try:
        feed.tempo(120.0, "internal")
        feed.settings({"model": model, "temperature": 1.0})
        for exchange in range(exchanges):
            at = t0 + 4.0 * exchange
            feed.received(at + 0.5, [0x90, 60 + exchange, 100], True)
            feed.received(at + 1.0, [0x80, 60 + exchange, 0], True)
            feed.answer(at + 1.5, at + 1.6, at + 2.0, "C major")
            now[0] = at + 2.0
            feed.sent(at + 2.0, [0x90, 67 + exchange, 80])
            now[0] = at + 2.5
            feed.sent(at + 2.5, [0x80, 67 + exchange, 0])
    finally:
        feed.stop()
    return take_id


def invoke(*arguments: str):
    return runner.invoke(app, ["sessions", *arguments], terminal_width=200)


def failed(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output + result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """Its own XDG_DATA_HOME (so its own default takes folder), and a current folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_list_shows_the_default_folders_takes_newest_first(home):
    first = record(takes_folder(), model="folk")
    second = record(takes_folder(), model="bach", exchanges=2)
    result = invoke("list")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if first in line or second in line]
    assert len(rows) == 2 and second in rows[0] and first in rows[1]
    assert "folk" in rows[1] and " 1 " in rows[1] and "yes" in rows[1]
    assert "bach" in rows[0] and " 2 " in rows[0]
    for column in ("id", "date", "length", "exchanges", "models", "finished"):
        assert column in result.output


def test_list_of_another_folder_and_of_none(home):
    other = home / "elsewhere"
    take_id = record(other)
    assert take_id in invoke("list", "--folder", str(other)).output
    result = invoke("list", "--folder", str(home / "missing"))
    assert result.exit_code == 0 and "no takes in" in result.output


def test_without_a_folder_the_configs_record_folder_is_read(home, monkeypatch):
    configured = home / "configured"
    take_id = record(configured)
    monkeypatch.setenv("ANTIPHON_RECORD_FOLDER", str(configured))
    assert take_id in invoke("list").output
    assert take_id not in invoke("list", "--folder", str(takes_folder())).output
    monkeypatch.delenv("ANTIPHON_RECORD_FOLDER")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    (home / "antiphon").mkdir()
    (home / "antiphon" / "antiphon.toml").write_text(f"record_folder = {str(configured)!r}\n")
    assert take_id in invoke("list").output


def test_export_writes_the_take_as_midi_with_a_track_per_side_or_per_exchange(home):
    take_id = record(takes_folder(), exchanges=2)
    result = invoke("export", take_id, "-o", "take.mid")
    assert result.exit_code == 0, result.output
    midi = mido.MidiFile(home / "take.mid")
    assert [track.name for track in midi.tracks] == ["call", "answer"]
    assert [m.note for m in midi.tracks[1] if m.type == "note_on"] == [67, 68]
    result = invoke("export", take_id, "-o", "parts.mid", "--per-exchange")
    assert result.exit_code == 0, result.output
    parts = mido.MidiFile(home / "parts.mid")
    assert [track.name for track in parts.tracks] == ["exchange 1", "exchange 2"]
    assert [[m.note for m in t if m.type == "note_on"] for t in parts.tracks] == \
        [[60, 67], [61, 68]]
    assert invoke("export", take_id).exit_code == 0  # ID.mid in the current folder
    assert len(mido.MidiFile(home / f"{take_id}.mid").tracks) == 2


def test_show_draws_the_roll_to_id_png_in_the_current_folder(home):
    other = home / "elsewhere"
    take_id = record(other)
    result = invoke("show", take_id, "--folder", str(other))
    assert result.exit_code == 0, result.output
    png = (home / f"{take_id}.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5000
    result = invoke("show", take_id, "--folder", str(other), "-o", str(home / "roll.png"))
    assert result.exit_code == 0 and (home / "roll.png").read_bytes().startswith(PNG_SIGNATURE)


def test_an_unknown_or_unsafe_id_is_one_line(home):
    record(takes_folder())
    failed(invoke("export", "2020-01-01_000000", "-o", "x.mid"), "no take 2020-01-01_000000")
    for bad in ("../data", "/etc/passwd", "..", "x"):
        failed(invoke("show", bad), "is not a take id")
    assert not list(home.glob("*.png")) and not (home / "x.mid").exists()


def test_an_unsafe_folder_is_one_line(home):
    shared = home / "shared"
    take_id = record(shared)
    os.chmod(shared, 0o777)
    failed(invoke("list", "--folder", str(shared)), "the takes folder", "can be written by others",
           "--record-folder")
    failed(invoke("export", take_id, "--folder", str(shared)), "can be written by others")
    os.chmod(shared, 0o700)
    (home / "link").symlink_to(shared)
    failed(invoke("show", take_id, "--folder", str(home / "link")), "symbolic link")


def test_an_unreadable_journal_is_one_line(home):
    take_id = record(takes_folder())
    (takes_folder() / take_id / "journal.jsonl").write_bytes(b"not json\n")
    failed(invoke("export", take_id), "does not begin with")
    failed(invoke("show", take_id, "-o", str(home / "nowhere" / "x.png")), "does not begin")


def test_a_file_that_cannot_be_written_is_one_line(home):
    take_id = record(takes_folder())
    failed(invoke("export", take_id, "-o", str(home / "no" / "such" / "take.mid")),
           "cannot write")
    failed(invoke("show", take_id, "-o", str(home / "no" / "such" / "roll.png")),
           "cannot write")


def hostile_take(folder: Path, take_id: str, *rows: bytes) -> str:
    """A take folder written by hand: a header, a note, then `rows` as they are."""
    (folder / take_id).mkdir(parents=True, mode=0o700)
    os.chmod(folder, 0o700)
    header = b'{"format":"antiphon-take-v1","started":"2026-12-07T10:00:00+00:00","pid":0}\n'
    (folder / take_id / "journal.jsonl").write_bytes(
        header + b'{"t":0.5,"kind":"call","msg":[144,60,100]}\n' + b"".join(rows))
    return take_id


def test_a_hostile_journal_is_exported_and_drawn_from_what_it_holds(home):
    """Garbage, nesting past recursion, times and tempos no take has, system messages,
    a note left sounding ten million seconds in: a file and a picture all the same, fast."""
    take_id = hostile_take(
        takes_folder(), "2026-12-07_100000", b"\x00\xff garbage\n", b"[" * 100_000 + b"\n",
        b'{"t":1e308,"kind":"call","msg":[144,61,1]}\n',
        b'{"t":0.6,"kind":"tempo","bpm":1e-300,"clock":"x"}\n',
        b'{"t":0.6,"kind":"answer","msg":[255,60,100]}\n',
        b'{"t":1e7,"kind":"answer","msg":[144,72,90]}\n', b'{"kind":"end","t":1e400}\n')
    hostile_take(takes_folder(), "2026-12-07_100001", b"[" * 100_000 + b"\n")
    hostile_take(takes_folder(), "2026-12-07_100002")
    (takes_folder() / "2026-12-07_100002" / "journal.jsonl").write_bytes(
        b"[" * 100_000 + b"\n")
    listed = invoke("list")
    assert listed.exit_code == 0 and "Traceback" not in listed.output, listed.output
    assert "2026-12-07_100000" in listed.output and "2026-12-07_100001" in listed.output
    result = invoke("export", take_id, "-o", "take.mid")
    assert result.exit_code == 0, result.output
    assert len(mido.MidiFile(home / "take.mid").tracks) == 2
    result = invoke("show", take_id, "-o", "roll.png")
    assert result.exit_code == 0, result.output
    assert (home / "roll.png").read_bytes().startswith(PNG_SIGNATURE)
    failed(invoke("export", "2026-12-07_100002"), "does not begin with")


def test_list_says_which_takes_it_could_not_read(home):
    """Nothing is left out unsaid: a take another user owns, or whose journal is not one."""
    kept = record(takes_folder())
    hostile_take(takes_folder(), "2026-12-07_100000")
    (takes_folder() / "2026-12-07_100000" / "journal.jsonl").write_bytes(b"\x00garbage\n")
    (takes_folder() / "2026-12-07_100001").mkdir(mode=0o700)
    (takes_folder() / "2026-12-07_100001" / "journal.jsonl").symlink_to("/etc/passwd")
    result = invoke("list")
    assert result.exit_code == 0 and kept in result.output, result.output
    assert "2 takes could not be read" in result.output
    assert "2026-12-07_100000" in result.output and "does not begin with" in result.output
    assert "2026-12-07_100001" in result.output and "symbolic link" in result.output


def test_a_configured_folder_named_with_a_nul_is_one_line(home, monkeypatch):
    """record_folder = "...\\u0000..." in the config file: a name no folder can have."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    (home / "antiphon").mkdir()
    (home / "antiphon" / "antiphon.toml").write_text('record_folder = "/tmp/a\\u0000b"\n')
    for command in (["list"], ["export", "2026-12-07_100000"], ["show", "2026-12-07_100000"]):
        result = invoke(*command)  # the config refuses it: a usage error, named, one line
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--record-folder" in lines[0] and "NUL" in lines[0], lines
        assert "Traceback" not in result.output + result.stderr
