"""The MIDI system's watch (system_watch.py) and the reader's proof of silence (reader.py):
a probe that does not come back because our own threads did not run is never taken for a
dead MIDI system."""

from __future__ import annotations

import threading
import time

from antiphon.daemon.midi.reader import InputReader
from antiphon.daemon.midi.system_watch import LOST_AFTER_SECONDS, SystemWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Evidence:
    """A reader as the watch sees it: whether it proved silence."""

    def __init__(self, silent: bool) -> None:
        self.silent = silent

    def silence_proven(self, seconds: float) -> bool:
        return self.silent


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_silent_probe_with_a_server_that_answers_is_a_doubt_not_a_loss():
    clock = Clock()
    watch = SystemWatch("jack", 30.0, clock=clock)
    asked = []
    for _ in range(50):  # five seconds of keeper looks
        clock.now += 0.1
        assert not watch.gone(Evidence(True), lambda: asked.append(1) or True)
    assert watch.lost_since is None and watch.doubts == len(asked) >= 5
    assert len(asked) <= 11  # asked twice a second at most, not at every look


def test_a_silent_probe_and_a_server_that_fails_a_request_is_a_loss():
    clock = Clock()
    watch = SystemWatch("jack", 30.0, clock=clock)
    assert not watch.gone(Evidence(False), lambda: False)  # no proof: the server not asked
    assert watch.gone(Evidence(True), lambda: False)
    assert watch.lost_since == clock.now


def test_without_a_way_to_ask_the_server_the_proven_silence_decides():
    watch = SystemWatch("jack", 30.0, clock=Clock())
    assert not watch.gone(None, None)  # no probed input: nothing to judge by
    assert watch.gone(Evidence(True), None)


def test_a_gone_system_is_asked_for_until_the_reconnect_timeout():
    clock, there = Clock(), [False]
    watch = SystemWatch("alsa", 5.0, clock=clock, ask=lambda backend: there[0])
    assert watch.gone(None, None)
    clock.now += 1.0
    assert watch.back() is False
    clock.now += 1.0
    there[0] = True
    assert watch.back() is True and watch.lost_since is None
    there[0] = False
    clock.now += 2.0
    assert watch.gone(None, None)
    clock.now += 5.1
    assert watch.back() is None  # gone too long: give up


class StarvedPoll:
    """rtmidi's get_message for a reader that is starved: after its first look, the
    reader does not get to run again until released (a core busy elsewhere, a process
    stopped). Nothing ever comes back: the probes go nowhere."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.calls > 2:
            self.release.wait(10)
        return None


def test_a_starved_reader_proves_no_silence_however_long_it_was_starved():
    poll = StarvedPoll()
    probes = []
    reader = InputReader("starved", poll, lambda arrived, message: None,
                         lambda: probes.append(time.perf_counter()))
    reader.stats.last_heard -= 10.0  # nothing heard for long: the old test said "lost"
    reader.start()
    try:
        assert wait_until(lambda: poll.calls > 2, 5)
        time.sleep(LOST_AFTER_SECONDS * 1.5)  # it sent its probe, then did not run at all
        assert not reader.heard_within(LOST_AFTER_SECONDS)
        assert not reader.silence_proven(LOST_AFTER_SECONDS)
        watch = SystemWatch("jack", 30.0)
        assert not watch.gone(reader, None)
    finally:
        poll.release.set()
        assert reader.stop()


def test_a_reader_that_watched_its_probes_go_unanswered_proves_silence():
    probes = []
    reader = InputReader("deaf", lambda: None, lambda arrived, message: None,
                         lambda: probes.append(time.perf_counter()))
    reader.start()
    try:
        assert wait_until(lambda: reader.silence_proven(LOST_AFTER_SECONDS),
                          LOST_AFTER_SECONDS + 5)
        assert len(probes) >= 2
    finally:
        assert reader.stop()


def test_a_probe_that_comes_back_clears_the_proof():
    back = []
    reader = InputReader("alive", lambda: back.pop() if back else None,
                         lambda arrived, message: None, lambda: back.append(([0xF7], 0.0)))
    reader.start()
    try:
        time.sleep(LOST_AFTER_SECONDS * 1.5)
        assert reader.stats.probes_sent >= 2
        assert not reader.silence_proven(LOST_AFTER_SECONDS)
    finally:
        assert reader.stop()
