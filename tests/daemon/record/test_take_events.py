"""TakeEvent as a journal row and back; rows that are not events are refused."""

from __future__ import annotations

import json

import pytest

from antiphon.daemon.record.take_events import Take, TakeEvent


@pytest.mark.parametrize("event", [
    TakeEvent(1.25, "call", (144, 60, 100)),
    TakeEvent(2.0, "answer", (128, 64, 0)),
    TakeEvent(0.0, "answer", (176, 64, 127)),
    TakeEvent(3.5, "answer_start", (), {"due": 4.0, "keeps": "C major"}),
    TakeEvent(0.0, "tempo", (), {"bpm": 96.5, "clock": "midi"}),
    TakeEvent(0.1, "settings", (), {"model": "folk", "temperature": 0.9, "top_p": None,
                                    "scale": "auto", "candidates": 4}),
])
def test_an_event_survives_a_journal_line(event):
    row = json.loads(json.dumps(event.as_json()))
    assert TakeEvent.from_json(row) == event


def test_the_rows_look_as_the_web_page_reads_them():
    assert TakeEvent(1.2345678, "call", (144, 60, 100)).as_json() == \
        {"t": 1.234568, "kind": "call", "msg": [144, 60, 100]}
    assert TakeEvent(0.5, "tempo", (), {"bpm": 120.0, "clock": "internal"}).as_json() == \
        {"t": 0.5, "kind": "tempo", "bpm": 120.0, "clock": "internal"}


@pytest.mark.parametrize("row", [
    [],
    {"kind": "call", "msg": [144, 60, 100]},
    {"t": -1, "kind": "call", "msg": [144, 60, 100]},
    {"t": float("nan"), "kind": "call", "msg": [144, 60, 100]},
    {"t": True, "kind": "call", "msg": [144, 60, 100]},
    {"t": 1, "kind": "sysex", "msg": [240, 1, 247]},
    {"t": 1, "kind": "call"},
    {"t": 1, "kind": "call", "msg": [60, 100]},
    {"t": 1, "kind": "call", "msg": [144, 200, 100]},
    {"t": 1, "kind": "call", "msg": [144, 60, 100, 1]},
    {"t": 1, "kind": "call", "msg": "90 3c 64"},
    {"t": 1, "kind": "tempo", "bpm": 0, "clock": "internal"},
    {"t": 1, "kind": "tempo", "bpm": 120},
    {"t": 1, "kind": "answer_start", "keeps": "C major"},
    {"t": 1, "kind": "answer_start", "due": 2, "keeps": 7},
])
def test_a_row_that_is_not_an_event_is_refused(row):
    with pytest.raises(ValueError):
        TakeEvent.from_json(row)


def test_a_take_lasts_to_its_latest_moment():
    events = (TakeEvent(2.0, "answer", (144, 60, 1)), TakeEvent(1.5, "call", (144, 62, 1)))
    assert Take("x", {}, events).seconds == 2.0
    assert Take("x", {}, events, ended=3.0).seconds == 3.0
    assert Take("x", {}).seconds == 0.0
