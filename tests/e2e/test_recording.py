"""The session recorder over the real JACK server: `antiphon run` keeps every call and
answer as a take, a `kill -9` mid-answer loses at most the last second of it, the next
start makes the unfinished take a .mid, and `antiphon sessions` lists, exports and draws
what was kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import mido
import pytest
from e2e_support import (
    BEAT,
    PHRASE,
    JackPlayer,
    antiphon_command,
    call_and_hear_answer,
    wait_until,
)

from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

pytestmark = pytest.mark.jack

LOST_AT_MOST_SECONDS = 1.0  # a kill -9 loses at most the last second of the take


def sessions(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(antiphon_command("sessions", *args), capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})


def take_ids(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if (path / "journal.jsonl").exists())


def notes_of(track: mido.MidiTrack) -> list[int]:
    """The pitches of a track's note-ons, in order; fails when one is never released."""
    sounding: dict[int, int] = {}
    pitches = []
    for message in track:
        if message.type == "note_on" and message.velocity > 0:
            pitches.append(message.note)
            sounding[message.note] = sounding.get(message.note, 0) + 1
        elif message.type in ("note_on", "note_off") and sounding.get(message.note):
            sounding[message.note] -= 1
    assert not any(sounding.values()), f"notes never released in {track.name}: {sounding}"
    return pitches


def exported(folder: Path, take_id: str, out: Path) -> dict[str, list[int]]:
    result = sessions("export", take_id, "-o", str(out), "--folder", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    midi = mido.MidiFile(out)  # a valid .mid, or mido raises
    return {track.name: notes_of(track) for track in midi.tracks if track.name}


def test_a_kill_mid_answer_keeps_the_take_up_to_its_last_second(daemon, tmp_path):
    folder = tmp_path / "takes"
    process = daemon("--record-folder", str(folder))
    keys = JackPlayer()
    try:
        keys.play(PHRASE, BEAT)
        assert wait_until(lambda: keys.note_ons(), 10), process.output()
        time.sleep(1.4)  # mid-answer: an answer to this 4-beat call lasts about 4 beats (2 s)
        heard = keys.note_ons()
        process.process.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        process.process.wait(10)
    finally:
        keys.close()
    [take_id] = take_ids(folder)
    assert not (folder / take_id / "take.mid").exists()  # nobody finished it
    tracks = exported(folder, take_id, tmp_path / "take.mid")
    assert tracks["call"] == [pitch for pitch, _ in PHRASE]
    # Everything the synth heard up to a second before the kill is in the take, in order.
    kept = [message[1] for arrived, message in heard if arrived < killed - LOST_AT_MOST_SECONDS]
    assert kept, "no answer note was heard a second before the kill"
    kept_in_take = iter(tracks["answer"])  # in order (JACK may lose one between clients)
    assert all(pitch in kept_in_take for pitch in kept), (kept, tracks["answer"])

    listed = sessions("list", "--folder", str(folder))
    assert listed.returncode == 0 and take_id in listed.stdout, listed.stdout + listed.stderr

    # The next start makes the unfinished take a .mid, and records a take of its own.
    again = daemon("--record-folder", str(folder))
    assert wait_until(lambda: (folder / take_id / "take.mid").exists(), 5), again.output()
    finished = mido.MidiFile(folder / take_id / "take.mid")
    assert {track.name for track in finished.tracks} >= {"call", "answer"}
    assert again.terminate() == 0
    assert len(take_ids(folder)) == 2


def test_a_clean_stop_finishes_the_take_and_no_record_keeps_nothing(daemon, tmp_path):
    folder = tmp_path / "takes"
    trace_path = tmp_path / "trace.jsonl"
    process = daemon("--record-folder", str(folder), "--timing-trace", str(trace_path))
    keys = JackPlayer()
    try:
        call_and_hear_answer(keys, process, PHRASE, BEAT)
        heard = [message[1] for _, message in keys.note_ons()]
        record = ask(process.socket, {"command": "status"})["status"]["record"]
        assert record["recording"] and record["take"] == take_ids(folder)[0]
        assert process.terminate() == 0
    finally:
        keys.close()
    [take_id] = take_ids(folder)
    midi = mido.MidiFile(folder / take_id / "take.mid")
    tracks = {track.name: notes_of(track) for track in midi.tracks if track.name}
    assert tracks["call"] == [pitch for pitch, _ in PHRASE]
    # The take's answer is what the daemon sent (its own trace), and holds what the synth
    # heard (JACK without realtime scheduling may lose a message between two clients).
    sent = [message[1] for due, _, message in TimingTrace.read(trace_path).sends
            if due is not None and message[0] & 0xF0 == 0x90 and message[2]]
    assert tracks["answer"] == sent
    unheard = iter(tracks["answer"])
    assert all(pitch in unheard for pitch in heard), (heard, tracks["answer"])
    picture = tmp_path / "roll.png"
    shown = sessions("show", take_id, "-o", str(picture), "--folder", str(folder))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    silent = tmp_path / "silent"
    process = daemon("--record-folder", str(silent), "--no-record")
    keys = JackPlayer()
    try:
        keys.play(PHRASE, BEAT)
        assert wait_until(lambda: keys.note_ons(), 10), process.output()
        assert process.terminate() == 0
    finally:
        keys.close()
    assert not silent.exists() or not any(silent.iterdir())


def test_a_take_folder_of_another_user_is_refused_and_playing_goes_on(daemon, tmp_path):
    folder = tmp_path / "open"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)  # anyone may write it: a take there could be swapped or read
    process = daemon("--record-folder", str(folder))
    assert "not recording" in process.output()
    keys = JackPlayer()
    try:
        keys.play(PHRASE, BEAT)
        assert wait_until(lambda: keys.note_ons(), 10), process.output()
    finally:
        keys.close()
    assert process.terminate() == 0
    assert list(folder.iterdir()) == []
