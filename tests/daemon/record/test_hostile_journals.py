"""Journals a crash, a bad disk or a hand left broken: binary garbage, invalid UTF-8,
lines nested past what a parser can follow, times and tempos no take can have, messages
that are not a take's. Each reads back as the events it does hold (the rest skipped),
and makes a MIDI file and a picture; none raises anything but a TakeError."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import mido
import pytest

from antiphon.daemon.record.midi_export import take_to_midi
from antiphon.daemon.record.roll_picture import take_roll_notes
from antiphon.daemon.record.take_events import TakeEvent
from antiphon.daemon.record.takes import (
    BadTakeId,
    UnreadableTake,
    check_take_id,
    list_takes,
    parse_journal,
    read_take,
)

HEADER = json.dumps({"format": "antiphon-take-v1", "started": "2026-12-07T10:00:00+00:00",
                     "pid": 1}).encode() + b"\n"
NOTE = b'{"t":0.5,"kind":"call","msg":[144,60,100]}\n'
RELEASE = b'{"t":1.0,"kind":"call","msg":[128,60,0]}\n'


def journal(*lines: bytes) -> bytes:
    return HEADER + NOTE + b"".join(lines) + RELEASE


HOSTILE = {
    "binary garbage": journal(b"\x00\xff\xfe\x89PNG\r\n"),
    "invalid utf-8": journal(b'{"t":0.7,"kind":"call","msg":[144,61,100],"x":"\xff\xfe"}\n'),
    "nested past recursion": journal(b"[" * 100_000 + b"\n"),
    "nested object": journal(b'{"t":' * 50_000 + b"\n"),
    "a line of megabytes": journal(b"x" * (3 << 20) + b"\n"),
    "unknown kind": journal(b'{"t":0.6,"kind":"weird","msg":[144,62,1]}\n'),
    "nan and inf times": journal(b'{"t":NaN,"kind":"call","msg":[144,62,1]}\n',
                                 b'{"t":Infinity,"kind":"call","msg":[144,62,1]}\n',
                                 b'{"t":1e400,"kind":"call","msg":[144,62,1]}\n'),
    "a time past any take": journal(b'{"t":1e308,"kind":"call","msg":[144,62,1]}\n'),
    "tempos no clock gives": journal(b'{"t":0.1,"kind":"tempo","bpm":1e-300,"clock":"x"}\n',
                                     b'{"t":0.2,"kind":"tempo","bpm":1e300,"clock":"x"}\n',
                                     b'{"t":0.3,"kind":"tempo","bpm":0.001,"clock":"x"}\n'),
    "messages a take never keeps": journal(b'{"t":0.6,"kind":"call","msg":[255,60,100]}\n',
                                           b'{"t":0.6,"kind":"call","msg":[240,60,100]}\n',
                                           b'{"t":0.6,"kind":"call","msg":[144]}\n',
                                           b'{"t":0.6,"kind":"answer","msg":[192,5]}\n',
                                           b'{"t":0.6,"kind":"answer","msg":[248]}\n'),
    "an end past any take": journal(b'{"kind":"end","t":1e400}\n'),
    "an end that is not a time": journal(b'{"kind":"end","t":true}\n'),
    "times going backwards": journal(b'{"t":0.9,"kind":"call","msg":[144,64,90]}\n',
                                     b'{"t":0.2,"kind":"call","msg":[128,64,0]}\n'),
    "a note never released": journal(b'{"t":0.8,"kind":"answer","msg":[144,72,90]}\n'),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_journal_reads_back_as_the_events_it_holds(name):
    take = parse_journal(HOSTILE[name], "2026-12-07_100000")
    assert [event.message for event in take.events if event.kind == "call"][:1] == \
        [(144, 60, 100)]
    assert take.seconds < 1e6
    midi = take_to_midi(take)
    out = io.BytesIO()
    midi.save(file=out)
    again = mido.MidiFile(file=io.BytesIO(out.getvalue()))
    ons = sum(m.type == "note_on" and m.velocity > 0 for t in again.tracks for m in t)
    offs = sum(m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)
               for t in again.tracks for m in t)
    assert ons >= 1 and ons == offs  # every note-on closed
    for side in take_roll_notes(take):
        for start, end, pitch, _ in side:
            assert 0 <= start <= end < 1e7 and 0 <= pitch < 128


@pytest.mark.parametrize("header", [b"\xff\xfe\n", b"[" * 100_000 + b"\n", b"null\n",
                                    b'{"format": "antiphon-take-v2"}\n', b"\n"])
def test_a_journal_without_its_header_is_unreadable(header):
    with pytest.raises(UnreadableTake, match="header"):
        parse_journal(header + NOTE, "2026-12-07_100000")


@pytest.mark.parametrize("row", [
    {"t": 1e308, "kind": "call", "msg": [144, 60, 1]},
    {"t": 0.1, "kind": "call", "msg": [255, 60, 100]},
    {"t": 0.1, "kind": "call", "msg": [192, 5]},
    {"t": 0.1, "kind": "call", "msg": [144, 60]},
    {"t": 0.1, "kind": "tempo", "bpm": 1e-300, "clock": "midi"},
    {"t": 0.1, "kind": "tempo", "bpm": 1e9, "clock": "midi"},
])
def test_rows_no_take_holds_are_refused(row):
    with pytest.raises(ValueError):
        TakeEvent.from_json(row)


def test_one_hostile_take_leaves_the_others_listed(tmp_path):
    folder = tmp_path / "sessions"
    for take_id, data in [("2026-12-07_100000", HEADER + NOTE),
                          ("2026-12-07_100001", HEADER + b"[" * 100_000 + b"\n"),
                          ("2026-12-07_100002", b"[" * 100_000 + b"\n")]:
        (folder / take_id).mkdir(parents=True, mode=0o700)
        (folder / take_id / "journal.jsonl").write_bytes(data)
    os.chmod(folder, 0o700)
    listed = [summary.id for summary in list_takes(folder)]
    assert listed == ["2026-12-07_100001", "2026-12-07_100000"]
    with pytest.raises(UnreadableTake):
        read_take(folder, "2026-12-07_100002")


@pytest.mark.parametrize("take_id", ["２０２６-１２-０７_１０００００", "٢٠٢٦-12-07_100000",
                                     "2026-12-07_100000\n", "2026-12-07_100000/..", "",
                                     "2026-12-07_100000\x00"])
def test_an_id_of_other_digits_or_characters_is_refused(take_id, tmp_path: Path):
    with pytest.raises(BadTakeId):
        check_take_id(take_id)


def test_the_recorder_opens_beside_hostile_unfinished_takes(tmp_path):
    """The upkeep reads every unfinished journal: none of them may stop a take."""
    from antiphon.daemon.record.recorder import TakeRecorder
    from antiphon.daemon.record.upkeep import KeepPolicy

    folder = tmp_path / "sessions"
    dead = HEADER.replace(b'"pid": 1', b'"pid": 0')  # no process holds it
    hostile = {"2026-12-07_100000": b"[" * 100_000 + b"\n" + NOTE,
               "2026-12-07_100001": dead + b"[" * 100_000 + b"\n" + NOTE,
               "2026-12-07_100002": journal(b'{"t":0.6,"kind":"tempo","bpm":4,"clock":"x"}\n',
                                            b'{"t":0.7,"kind":"tempo","bpm":1000,"clock":"x"}\n')}
    for take_id, data in hostile.items():
        (folder / take_id).mkdir(parents=True, mode=0o700)
        (folder / take_id / "journal.jsonl").write_bytes(data)
    os.chmod(folder, 0o700)
    recorder = TakeRecorder(folder, KeepPolicy(max_mb=0.001, max_days=None))
    take_id = recorder.open()
    recorder.take_events([TakeEvent(0.1, "call", (144, 60, 100))])
    recorder.close()
    assert read_take(folder, take_id).finished
    assert (folder / "2026-12-07_100001" / "take.mid").exists() or \
        not (folder / "2026-12-07_100001").exists()  # finished, or removed for the size


def test_a_takes_folder_whose_name_holds_a_nul_is_an_os_error(tmp_path):
    """A config file's record_folder may hold "\\u0000": said as the folder's fault (an
    OSError, which the daemon takes as "not recording"), never a ValueError of os.open."""
    from antiphon.daemon.record.recorder import TakeRecorder

    folder = tmp_path / "a\x00b"
    with pytest.raises(OSError, match="NUL"):
        list_takes(folder)
    with pytest.raises(OSError, match="NUL"):
        read_take(folder, "2026-12-07_100000")
    with pytest.raises(OSError, match="NUL"):
        TakeRecorder(folder).open()


def test_a_take_whose_start_cannot_be_told_is_left_out_and_the_rest_listed(tmp_path):
    """An id of the right form but no real time (month 99), and a header with no start."""
    folder = tmp_path / "sessions"
    for take_id, header in [("2026-99-99_999999", b'{"format":"antiphon-take-v1"}\n'),
                            ("2026-12-07_100000", HEADER)]:
        (folder / take_id).mkdir(parents=True, mode=0o700)
        (folder / take_id / "journal.jsonl").write_bytes(header + NOTE)
    os.chmod(folder, 0o700)
    assert [summary.id for summary in list_takes(folder)] == ["2026-12-07_100000"]
