"""LiveRoll, the web page's listener of the take feed: what it keeps for a page that
connects late (bounded in time and count, the latest tempo and settings however old), what
it hands to the server's loop, and that it never fails the feed."""

from __future__ import annotations

import asyncio
import threading

from antiphon.daemon.control.web.live import LiveRoll
from antiphon.daemon.record.take_events import TakeEvent


class SetClock:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds


def note(seconds: float, pitch: int = 60) -> TakeEvent:
    return TakeEvent(seconds, "call", (0x90, pitch, 100))


def test_it_keeps_the_last_minutes_and_the_latest_tempo_and_settings_however_old():
    live = LiveRoll(keep_seconds=10.0)
    live.take_events([TakeEvent(0.0, "tempo", detail={"bpm": 90.0, "clock": "internal"}),
                      TakeEvent(0.0, "settings", detail={"model": "folk"}), note(1.0)])
    live.take_events([TakeEvent(2.0, "tempo", detail={"bpm": 100.0, "clock": "internal"})])
    live.take_events([note(30.0, 62), note(35.0, 64)])
    rows = live.recent()
    assert [(row["t"], row["kind"]) for row in rows] == [
        (0.0, "settings"), (2.0, "tempo"), (30.0, "call"), (35.0, "call")]
    assert rows[1]["bpm"] == 100.0


def test_it_keeps_at_most_so_many_events():
    live = LiveRoll(keep_events=100)
    for n in range(10):
        live.take_events([note(n + k / 100) for k in range(50)])
    rows = live.recent()
    assert len(rows) == 100 and rows[-1]["t"] == 9.49


def test_batches_go_to_the_attached_loop_and_the_end_is_told():
    loop = asyncio.new_event_loop()
    got: list[tuple[int, list[dict]]] = []
    live = LiveRoll()
    live.take_events([note(0.5)])  # before the server: only kept
    assert live.snapshot() == ([{"t": 0.5, "kind": "call", "msg": [144, 60, 100]}], 1)
    live.attach(loop, lambda rows, number: got.append((number, rows)))
    ran = threading.Thread(target=loop.run_forever, name="test loop")
    ran.start()
    try:
        live.take_events([note(1.0), note(1.1, 64)])
        live.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        ran.join()
        loop.close()
    assert got[0] == (2, [{"t": 1.0, "kind": "call", "msg": [144, 60, 100]},
                          {"t": 1.1, "kind": "call", "msg": [144, 64, 100]}])
    assert got[1][0] == 3 and got[1][1][0]["kind"] == "end" and live.closed
    live.take_events([note(2.0)])  # the loop closed: kept, no error for the feed
    live.detach()
    live.take_events([note(3.0)])
    assert live.recent()[-1]["t"] == 3.0


def test_the_take_seconds_now_come_from_when_batches_arrive():
    clock = SetClock(100.0)
    live = LiveRoll(now=clock)
    assert live.take_seconds() is None
    live.take_events([note(2.0)])  # handed on some time after it happened: began <= 98
    clock.seconds = 100.5
    live.take_events([note(2.6)])  # handed on sooner after: the take began by 97.9
    clock.seconds = 100.8
    live.take_events([note(2.7)])  # later than that one: says nothing new
    clock.seconds = 101.0
    assert abs(live.take_seconds() - 3.1) < 1e-9
