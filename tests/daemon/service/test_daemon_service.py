"""Daemon.serve under signals, as `antiphon run` uses it (main thread, real signals)."""

import os
import signal
import threading
import time

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import unmatched_note_ons, wait_until

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.service.daemon import Daemon
from antiphon.daemon.service.signals import ForcedShutdown, capture_signals
from antiphon.engine.events import NoteEvent

CONFIG = DaemonConfig(bpm=240, min_answer_beats=16, max_answer_beats=16)


class HangingSession(FakeSession):
    """Strikes a note, then hangs in the middle of its answer (a stuck model)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def generate(self, start_tick, length_ticks, temperature=1.0, *options):
        self.tick = start_tick
        yield NoteEvent(start_tick, 70, 100)
        self.release.wait(30)


def make_daemon(session):
    player, daemon_in = loopback_pair("in")
    daemon_out, recorder_in = loopback_pair("out")
    recorder = MessageRecorder()
    recorder_in.set_receiver(recorder)
    return Daemon(CONFIG, session, daemon_in, daemon_out), player, recorder


def play_once_serving(daemon, player):
    """A one-note call, played from another thread once `serve` has started the daemon."""

    def play():
        wait_until(lambda: daemon.loop.is_alive(), timeout=10)
        time.sleep(0.05)
        player.send([0x90, 60, 100])
        player.send([0x80, 60, 0])

    threading.Thread(target=play, daemon=True).start()


def signal_when(condition, *signums, gap=0.3):
    def send():
        wait_until(condition, timeout=10)
        for signum in signums:
            os.kill(os.getpid(), signum)
            time.sleep(gap)

    threading.Thread(target=send, daemon=True).start()


def test_sigterm_while_answering_stops_cleanly_and_releases():
    daemon, player, recorder = make_daemon(FakeSession())
    play_once_serving(daemon, player)
    signal_when(lambda: daemon.scheduler.sounding(), signal.SIGTERM)
    with capture_signals() as shutdown:
        assert daemon.serve(shutdown) == 0
    messages = [m for _, m in recorder.messages()]
    assert any(m[0] == 0x90 for m in messages)
    assert unmatched_note_ons(messages) == {}


def test_second_signal_forces_and_still_releases():
    session = HangingSession()
    daemon, player, recorder = make_daemon(session)
    play_once_serving(daemon, player)
    signal_when(lambda: daemon.scheduler.sounding(), signal.SIGINT, signal.SIGINT)
    try:
        with capture_signals() as shutdown, pytest.raises(ForcedShutdown):
            daemon.serve(shutdown)
        messages = [m for _, m in recorder.messages()]
        assert [0x90, 70, 100] in messages
        assert unmatched_note_ons(messages) == {}
    finally:
        session.release.set()
        daemon.stop()  # a forced stop leaves the threads to the process's exit; a test ends them


def test_a_crashed_loop_ends_serve_with_an_error_status():
    session = FakeSession()
    session.fail_on_generate = RuntimeError("model exploded")
    daemon, player, recorder = make_daemon(session)
    play_once_serving(daemon, player)
    with capture_signals() as shutdown:
        assert daemon.serve(shutdown) == 1
    assert isinstance(daemon.loop.error, RuntimeError)
