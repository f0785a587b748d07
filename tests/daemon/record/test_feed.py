"""TakeFeed: what the taps keep, and the thread that hands it on (in batches, promptly,
with flushes every half second), sheds past its limit, drops a listener that raises and
ends with the listeners closed."""

from __future__ import annotations

import threading
import time

import pytest
from record_helpers import Listener

from antiphon.daemon.record import feed as feed_module
from antiphon.daemon.record.feed import THREAD_NAME, TakeFeed


class Broken(Listener):
    def take_events(self, events) -> None:
        raise RuntimeError("a listener's bug")


def stopped_feed(taps) -> Listener:
    """Run `taps(feed, started)` on a feed never started; stop hands everything on."""
    listener = Listener()
    feed = TakeFeed([listener])
    taps(feed, feed.started)
    feed.stop()
    return listener


def test_the_call_keeps_only_kept_notes_controllers_and_bends():
    def taps(feed, t):
        feed.received(t + 0.1, [0x90, 60, 100], True)
        feed.received(t + 0.2, [0x90, 61, 100], False)  # the gate shed it
        feed.received(t + 0.3, [0xF8], True)  # clock
        feed.received(t + 0.4, [0xF0, 1, 2, 0xF7], True)  # sysex
        feed.received(t + 0.5, [0xC0, 5], True)  # program change
        feed.received(t + 0.6, [0xB0, 64, 127], True)
        feed.received(t + 0.7, [0xE0, 0, 80], True)
        feed.received(t + 0.8, [0x80, 60, 0], True)

    events = stopped_feed(taps).events
    assert [(round(e.seconds, 3), e.kind, e.message) for e in events] == [
        (0.1, "call", (0x90, 60, 100)), (0.6, "call", (0xB0, 64, 127)),
        (0.7, "call", (0xE0, 0, 80)), (0.8, "call", (0x80, 60, 0))]


def test_sent_keeps_the_answer_and_its_releases_but_not_thru():
    def taps(feed, t):
        feed.sent(t + 1.0, [0x90, 64, 90])  # the answer's note
        feed.sent(None, [0x90, 60, 80])  # thru of the player's note
        feed.sent(None, [0x80, 60, 0])  # thru's release
        feed.sent(t + 1.1, [0xB1, 64, 127])  # the answer's pedal on channel 2
        feed.sent(None, [0x80, 64, 0])  # a barge-in cuts the answer's note
        feed.sent(None, [0x80, 64, 0])  # ...and it is no longer the answer's
        feed.sent(None, [0xB1, 64, 0])  # the answer's pedal released at once
        feed.sent(None, [0xB0, 64, 0])  # thru's pedal on a channel the answer never used
        feed.sent(t + 1.2, [0x92, 70, 60])
        feed.sent(None, [0xB2, 123, 0])  # a panic on the answer's channel
        feed.sent(None, [0xB3, 123, 0])  # ...and on a channel it never played

    answers = [e.message for e in stopped_feed(taps).events]
    assert answers == [(0x90, 64, 90), (0xB1, 64, 127), (0x80, 64, 0), (0xB1, 64, 0),
                       (0x92, 70, 60), (0xB2, 123, 0)]


def test_answers_tempo_and_settings_carry_their_detail_and_only_changes():
    def taps(feed, t):
        feed.tempo(120.0, "internal")
        feed.tempo(120.1, "internal")  # a followed clock's wavering, not a change
        feed.tempo(120.0, "midi")
        feed.tempo(90.0, "midi")
        feed.tempo(float("nan"), "midi")
        feed.settings({"model": "folk", "temperature": 1.0})
        feed.settings({"model": "folk", "temperature": 1.0})
        feed.settings({"model": "bach", "temperature": float("inf"), "scale": object})
        feed.answer(t + 2.0, t + 2.01, t + 2.5, "D minor")

    events = stopped_feed(taps).events
    assert [e.detail for e in events if e.kind == "tempo"] == [
        {"bpm": 120.0, "clock": "internal"}, {"bpm": 120.0, "clock": "midi"},
        {"bpm": 90.0, "clock": "midi"}]
    settings = [e.detail for e in events if e.kind == "settings"]
    assert settings == [{"model": "folk", "temperature": 1.0},
                        {"model": "bach", "temperature": None, "scale": str(object)}]
    start = [e for e in events if e.kind == "answer_start"]
    assert len(start) == 1 and start[0].seconds == pytest.approx(2.0)
    assert start[0].detail == {"due": pytest.approx(2.5), "keeps": "D minor"}


def test_a_tap_never_raises():
    def taps(feed, t):
        feed.received(t, None, True)
        feed.sent(None, [0x90])
        feed.sent(1.0, "bytes")
        feed.tempo("fast", "internal")
        feed.settings(None)
        feed.answer(t, t, None, "x")
        feed.answer(t, t, float("nan"), "x")
        feed.received(float("inf"), [0x90, 60, 100], True)

    listener = stopped_feed(taps)
    assert listener.closed == 1 and listener.events == []


def test_stop_hands_on_what_waits_then_closes_and_ends_the_thread():
    listener = Listener()
    feed = TakeFeed([listener])
    feed.start()
    for pitch in range(100):
        feed.received(feed.started, [0x90, pitch % 128, 1], True)
    feed.stop()
    assert len(listener.events) == 100 and listener.closed == 1
    assert listener.flushes  # the last flush comes before the close
    assert THREAD_NAME not in [thread.name for thread in threading.enumerate()]
    feed.received(feed.started, [0x90, 1, 1], True)  # after the stop: nothing, no error
    feed.stop()
    assert len(listener.events) == 100 and listener.closed == 1


def test_past_the_queue_limit_the_taps_shed_count_and_say_it(monkeypatch, caplog):
    monkeypatch.setattr(feed_module, "QUEUE_LIMIT", 10)
    listener = Listener()
    feed = TakeFeed([listener])  # not started: nothing drains the queue
    for pitch in range(25):
        feed.received(feed.started, [0x90, pitch, 1], True)
    assert feed.shed == 15
    feed.stop()
    assert len(listener.events) == 10
    said = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert said == ["the take lost 15 events (its listeners fell 10 events behind); "
                    "playing goes on"]


def test_a_listener_that_raises_is_dropped_once_and_the_others_go_on(caplog):
    good, broken = Listener(), Broken()
    feed = TakeFeed([broken, good])
    feed.start()
    try:
        for pitch in (60, 62):
            good.arrived.clear()
            feed.received(time.perf_counter(), [0x90, pitch, 100], True)
            assert good.arrived.wait(1.0)
    finally:
        feed.stop()
    assert [e.message[1] for e in good.events] == [60, 62]
    assert feed.listeners == (good,)
    dropped = [r for r in caplog.records if "Broken" in r.getMessage()]
    assert len(dropped) == 1 and "playing goes on" in dropped[0].getMessage()
    assert broken.closed == 0 and good.closed == 1


def test_a_feed_starts_once():
    feed = TakeFeed([])
    feed.start()
    try:
        with pytest.raises(RuntimeError):
            feed.start()
    finally:
        feed.stop()
