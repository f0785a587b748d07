"""The web page's takes: the list of a takes folder that a real TakeRecorder wrote, each
take's .mid and its piano-roll picture, and the ids that name no take (or a path)."""

from __future__ import annotations

import io
import json

import pytest
from web_client import get

from antiphon.daemon.record.take_events import TakeEvent

takes = pytest.importorskip("antiphon.daemon.record.takes")
recorder_module = pytest.importorskip("antiphon.daemon.record.recorder")
pytest.importorskip("antiphon.daemon.record.midi_export")
pytest.importorskip("antiphon.daemon.record.roll_picture")


def record(folder, model: str, pitches: tuple[int, ...]) -> str:
    """One take through a real TakeRecorder: tempo, settings, a call, an answer."""
    recorder = recorder_module.TakeRecorder(folder, recorder_module.KeepPolicy(None, None))
    take_id = recorder.open()
    events = [TakeEvent(0.0, "tempo", detail={"bpm": 120.0, "clock": "internal"}),
              TakeEvent(0.0, "settings", detail={"model": model, "temperature": 1.0})]
    for n, pitch in enumerate(pitches):
        events += [TakeEvent(0.5 * n, "call", (0x90, pitch, 90)),
                   TakeEvent(0.5 * n + 0.4, "call", (0x80, pitch, 0))]
    due = 0.5 * len(pitches) + 0.5
    events.append(TakeEvent(due - 0.3, "answer_start", detail={"due": due, "keeps": "C major"}))
    for n, pitch in enumerate(pitches):
        events += [TakeEvent(due + 0.5 * n, "answer", (0x90, pitch + 7, 80)),
                   TakeEvent(due + 0.5 * n + 0.4, "answer", (0x80, pitch + 7, 0))]
    recorder.take_events(events)
    recorder.close()
    return take_id


@pytest.fixture
def recorded(tmp_path):
    folder = tmp_path / "sessions"
    first = record(folder, "folk", (60, 62, 64))
    second = record(folder, "transformer", (67, 65))
    return folder, first, second


def test_the_takes_are_listed_newest_first(serve, recorded):
    folder, first, second = recorded
    page = serve(folder)
    status, _, body = get(page.port, "/api/sessions", token=page.token)
    listed = json.loads(body)
    assert status == 200 and listed["recording"] is True
    assert [take["id"] for take in listed["takes"]] == [second, first]
    newest = listed["takes"][0]
    assert newest["exchanges"] == 1 and newest["models"] == ["transformer"]
    assert newest["finished"] is True and newest["seconds"] > 2 and newest["started"]


def test_a_take_downloads_as_midi_with_call_and_answer(serve, recorded):
    import mido

    folder, first, _ = recorded
    page = serve(folder)
    status, headers, body = get(page.port, f"/api/sessions/{first}/take.mid",
                                token=page.token)
    assert status == 200 and headers["Content-Type"] == "audio/midi"
    assert f'filename="antiphon-{first}.mid"' in headers["Content-Disposition"]
    song = mido.MidiFile(file=io.BytesIO(body))
    notes = {track.name: sum(message.type == "note_on" and message.velocity > 0
                             for message in track) for track in song.tracks}
    assert notes["call"] == 3 and notes["answer"] == 3


def test_a_take_is_drawn_as_a_png(serve, recorded):
    pytest.importorskip("matplotlib")
    folder, first, _ = recorded
    page = serve(folder)
    status, headers, body = get(page.port, f"/api/sessions/{first}/roll.png",
                                token=page.token)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body.startswith(b"\x89PNG\r\n\x1a\n") and len(body) > 2000
    assert get(page.port, f"/api/sessions/{first}/roll.png", token=page.token)[2] == body


@pytest.mark.parametrize("take_id", ["2020-01-01_000000", "..", "%2e%2e", "not-a-take",
                                     "2026-12-07_145503%2F..", "..%2F..%2Fetc"])
def test_an_id_that_names_no_take_is_not_found(serve, recorded, take_id):
    folder, _, _ = recorded
    page = serve(folder)
    for picture_or_midi in ("take.mid", "roll.png"):
        status, _, body = get(page.port, f"/api/sessions/{take_id}/{picture_or_midi}",
                              token=page.token)
        assert status == 404, (take_id, body)


def test_without_a_recorder_there_are_no_takes(page):
    status, _, body = get(page.port, "/api/sessions", token=page.token)
    assert status == 200 and body == b'{"recording": false, "takes": []}'
    status, _, body = get(page.port, "/api/sessions/2026-12-07_145503/take.mid",
                          token=page.token)
    assert status == 404 and b"recorder is off" in body


def test_a_missing_takes_folder_lists_none(serve, tmp_path):
    page = serve(tmp_path / "never-made")
    status, _, body = get(page.port, "/api/sessions", token=page.token)
    assert status == 200 and body == b'{"recording": true, "takes": []}'
