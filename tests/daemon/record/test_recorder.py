"""TakeRecorder on the disk: the journal as it is written, a take killed with SIGKILL and
finished by the next open, a journal cut mid-line, rotation by age and size, a real full
disk (/dev/full), and folders another user could change."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
from record_helpers import CALL, dead_pid, record_take, write_journal

from antiphon.daemon.config.private_folder import UnsafePath
from antiphon.daemon.record.feed import TakeFeed
from antiphon.daemon.record.recorder import TakeRecorder
from antiphon.daemon.record.take_events import TakeEvent
from antiphon.daemon.record.takes import list_takes, read_take
from antiphon.daemon.record.upkeep import KeepPolicy, process_mark

OTHER_UID = 65534  # nobody


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "takes"


def journal_rows(take: Path) -> list[dict]:
    return [json.loads(line) for line in (take / "journal.jsonl").read_text().splitlines()]


def test_a_take_is_a_journal_with_its_header_events_and_end_and_a_take_mid(folder):
    take_id = record_take(folder)
    take = folder / take_id
    rows = journal_rows(take)
    assert rows[0]["format"] == "antiphon-take-v1" and rows[0]["pid"] == os.getpid()
    assert rows[1] == {"t": 0.0, "kind": "tempo", "bpm": 120.0, "clock": "internal"}
    assert [row["msg"] for row in rows if row.get("kind") == "call"] == [list(m) for _, m in CALL]
    assert rows[-1] == {"kind": "end", "t": 3.5}
    assert sorted(os.listdir(take)) == ["journal.jsonl", "take.mid"]
    assert mido.MidiFile(take / "take.mid").length == pytest.approx(3.5, abs=0.01)
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(take).st_mode & 0o777 == 0o700
    assert os.stat(take / "journal.jsonl").st_mode & 0o777 == 0o600
    [summary] = list_takes(folder)
    assert (summary.id, summary.exchanges, summary.models, summary.finished) == \
        (take_id, 1, ("folk",), True)
    assert summary.seconds == pytest.approx(3.5)


def test_an_event_json_cannot_hold_is_left_out_and_the_take_goes_on(folder):
    recorder = TakeRecorder(folder)
    take_id = recorder.open()
    recorder.take_events([TakeEvent(1.0, "answer_start", (), {"due": float("nan")}),
                          TakeEvent(1.5, "call", (0x90, 60, 100))])
    recorder.close()
    assert recorder.skipped == 1
    assert [e.seconds for e in read_take(folder, take_id).events] == [1.5]


def test_takes_begun_in_one_second_get_their_own_ids(folder):
    first, second = TakeRecorder(folder), TakeRecorder(folder)
    ids = [first.open(), second.open()]
    for recorder in (first, second):
        recorder.close()
    if ids[0][:17] == ids[1][:17]:
        assert ids[1] == ids[0] + "-2"
    assert [summary.id for summary in list_takes(folder)] == sorted(ids, reverse=True)


KILLED_PLAYER = """
import sys, time
from pathlib import Path
from antiphon.daemon.record.feed import TakeFeed
from antiphon.daemon.record.recorder import TakeRecorder
recorder = TakeRecorder(Path(sys.argv[1]))
print(recorder.open(), flush=True)
feed = TakeFeed([recorder])
feed.start()
feed.tempo(120.0, "internal")
for pitch in range(60, 72):
    feed.received(time.perf_counter(), [0x90, pitch, 100], True)
    feed.received(time.perf_counter(), [0x80, pitch, 0], True)
feed.received(time.perf_counter(), [0x90, 50, 100], True)  # held when it is killed
time.sleep(1.2)  # past two flushes
print("flushed", flush=True)
time.sleep(60)
"""


def test_a_take_killed_with_sigkill_keeps_what_was_flushed_and_is_finished_next_time(folder):
    player = subprocess.Popen([sys.executable, "-c", KILLED_PLAYER, str(folder)],
                              stdout=subprocess.PIPE, text=True)
    try:
        take_id = player.stdout.readline().strip()
        assert player.stdout.readline().strip() == "flushed"
    finally:
        player.send_signal(signal.SIGKILL)
        player.wait()
        player.stdout.close()
    take = folder / take_id
    assert not (take / "take.mid").exists()
    [summary] = list_takes(folder)
    assert not summary.finished
    killed = read_take(folder, take_id)
    assert killed.ended is None
    assert sum(event.kind == "call" for event in killed.events) == 25

    recorder = TakeRecorder(folder)
    new_id = recorder.open()  # the killed one's process is gone: finished here
    recorder.close()
    midi = mido.MidiFile(take / "take.mid")
    notes = [m for m in midi.tracks[0] if m.type in ("note_on", "note_off")]
    assert sorted(m.note for m in notes if m.type == "note_on" and m.velocity) == \
        [50, *range(60, 72)]
    assert len(notes) == 26  # the held note closed at the take's end
    assert {s.id: s.finished for s in list_takes(folder)} == {take_id: True, new_id: True}


def test_a_journal_cut_mid_line_is_read_to_its_last_whole_line_and_finished(folder):
    take = folder / "2026-01-02_030405"
    rows = [{"t": 0.0, "kind": "tempo", "bpm": 100.0, "clock": "internal"},
            {"t": 0.3, "kind": "call", "msg": [144, 60, 100]},
            {"t": 0.6, "kind": "call", "msg": [128, 60, 0]}]
    write_journal(take, rows, pid=dead_pid(), tail=b'{"t": 0.9, "kind": "call", "ms')
    assert [e.seconds for e in read_take(folder, take.name).events] == [0.0, 0.3, 0.6]
    recorder = TakeRecorder(folder)
    recorder.open()
    recorder.close()
    midi = mido.MidiFile(take / "take.mid")
    assert [(m.type, m.note) for m in midi.tracks[0] if m.type.startswith("note")] == \
        [("note_on", 60), ("note_off", 60)]


def test_an_unfinished_take_of_this_process_not_open_now_is_finished(folder):
    write_journal(folder / "2026-01-02_030405", [], pid=os.getpid())
    recorder = TakeRecorder(folder)
    recorder.open()
    try:
        assert (folder / "2026-01-02_030405" / "take.mid").exists()
    finally:
        recorder.close()


def test_a_take_a_live_process_writes_is_left_alone(folder):
    writer = subprocess.Popen(["sleep", "30"])
    try:
        write_journal(folder / "2026-01-02_030405", [], pid=writer.pid,
                      process=process_mark(writer.pid))
        old = time.time() - 400 * 86400
        os.utime(folder / "2026-01-02_030405" / "journal.jsonl", (old, old))
        recorder = TakeRecorder(folder, KeepPolicy(max_mb=0.0, max_days=1))
        recorder.open()
        recorder.close()
        assert os.listdir(folder / "2026-01-02_030405") == ["journal.jsonl"]
    finally:
        writer.kill()
        writer.wait()


def test_a_take_whose_pid_a_later_process_holds_is_finished(folder):
    """After a reboot (or pids wrapping round) the header's pid may be another process's:
    the process's mark tells them apart."""
    later = subprocess.Popen(["sleep", "30"])
    try:
        stale = "00000000-0000-0000-0000-000000000000:1"
        write_journal(folder / "2026-01-02_030405", [], pid=later.pid, process=stale)
        recorder = TakeRecorder(folder)
        recorder.open()
        recorder.close()
        assert (folder / "2026-01-02_030405" / "take.mid").exists()
    finally:
        later.kill()
        later.wait()


def test_takes_past_their_age_then_the_oldest_past_the_size_are_removed(folder, caplog):
    ids = [record_take(folder) for _ in range(3)]
    old = time.time() - 10 * 86400
    for name in os.listdir(folder / ids[0]):
        os.utime(folder / ids[0] / name, (old, old))
    big = folder / "2026-01-01_000000"  # the oldest by its id, under the age limit
    write_journal(big, [], pid=dead_pid())
    (big / "take.mid").write_bytes(bytes(1024 * 1024))  # finished, and large
    recorder = TakeRecorder(folder, KeepPolicy(max_mb=1.0, max_days=5))
    with caplog.at_level(logging.INFO):
        new_id = recorder.open()
    try:
        assert sorted(os.listdir(folder)) == sorted([ids[1], ids[2], new_id])
        assert f"removed 2 old takes (record_keep_days 5, record_keep_mb 1.0): {ids[0]}, " \
            "2026-01-01_000000" in caplog.text
    finally:
        recorder.close()
    # A limit of nothing removes every take but the one being written.
    recorder = TakeRecorder(folder, KeepPolicy(max_mb=0.0, max_days=None))
    last_id = recorder.open()
    try:
        assert os.listdir(folder) == [last_id]
    finally:
        recorder.close()


def devfull(take_fd: int, name: str, where: Path) -> int:
    """The journal opened on /dev/full: every write fails with ENOSPC, as on a full disk."""
    return os.open("/dev/full", os.O_WRONLY | os.O_CLOEXEC)


def test_a_full_disk_is_said_once_and_playing_goes_on(folder, caplog):
    recorder = TakeRecorder(folder, opener=devfull)
    with caplog.at_level(logging.WARNING):
        recorder.open()
        feed = TakeFeed([recorder])
        feed.start()
        try:
            for pitch in range(60, 72):
                feed.received(time.perf_counter(), [0x90, pitch, 100], True)
                time.sleep(0.1)  # past two flushes
        finally:
            feed.stop()
    stopped = [r.getMessage() for r in caplog.records if "recorder stopped" in r.getMessage()]
    assert len(stopped) == 1
    assert "the disk is full" in stopped[0] and "playing goes on" in stopped[0]
    assert not recorder.recording and "disk is full" in recorder.failure
    assert feed.listeners == (recorder,)  # it never raised


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's folder")
def test_a_takes_folder_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafePath, match=f"belongs to uid {OTHER_UID}"):
        TakeRecorder(theirs).open()
    with pytest.raises(UnsafePath):
        list_takes(theirs)
    assert os.listdir(theirs) == []


def test_a_takes_folder_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(UnsafePath, match="can be written by others"):
        TakeRecorder(shared).open()
    assert os.listdir(shared) == []


def test_a_link_for_the_takes_folder_or_a_journal_is_refused(tmp_path, folder):
    take_id = record_take(folder)
    link = tmp_path / "link"
    link.symlink_to(folder)
    with pytest.raises(UnsafePath, match="symbolic link"):
        TakeRecorder(link).open()
    with pytest.raises(UnsafePath, match="symbolic link"):
        read_take(link, take_id)
    journal = folder / take_id / "journal.jsonl"
    journal.rename(tmp_path / "elsewhere.jsonl")
    journal.symlink_to(tmp_path / "elsewhere.jsonl")
    with pytest.raises(UnsafePath, match="symbolic link"):
        read_take(folder, take_id)
