"""MIDI thru (the player's notes on to the output) and the feedback guard (Antiphon's own
output patched back into its input), with the real scheduler, in virtual time: the
player, the patch cable and the daemon share one VirtualTime (virtual_play.py)."""

from __future__ import annotations

import queue

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import unmatched_note_ons
from virtual_play import VirtualInput, VirtualOutput, VirtualTime

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi.echo_guard import ECHO_WINDOW_SECONDS, EchoGuard
from antiphon.daemon.midi.loopback import MessageRecorder
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.service.daemon import Daemon

BPM = 240.0
BEAT = 60.0 / BPM


class Patch:
    """A daemon between a player and a synth; with `feedback`, whatever it sends also comes
    back into its input a moment later, from another thread (a synth's MIDI out wired
    back)."""

    def __init__(self, time: VirtualTime, config: DaemonConfig, feedback: bool = False) -> None:
        self.time = time
        self.player = VirtualInput(time, "Antiphon In")
        self.recorder = MessageRecorder()
        self._echoes: queue.SimpleQueue = queue.SimpleQueue()
        self._feedback = feedback

        def hear(arrived: float, message: list[int]) -> None:
            self.recorder(arrived, message)
            if self._feedback:
                self._echoes.put(message)

        self.session = FakeSession()
        self.daemon = Daemon(config, self.session, self.player,
                             VirtualOutput(time, hear, "Antiphon Out"),
                             Clock(config.bpm, time_source=time))
        self._cable = time.thread(self._loop_back, "patch cable")
        self._cable.start()

    def _loop_back(self) -> None:
        while (message := self.time.get(self._echoes, None)) is not None:
            self.time.sleep(0.001)  # a cable, a synth, a JACK period
            self.player.send(message)

    def close(self) -> None:
        self._echoes.put(None)
        self.time.join(self._cable, 10.0)
        self.daemon.stop()

    def wait_until(self, condition, timeout: float) -> bool:
        """Wait up to `timeout` virtual seconds for `condition()`."""
        return self.time.wait_until(condition, timeout)

    def messages(self) -> list[list[int]]:
        return [message for _, message in self.recorder.messages()]


@pytest.fixture
def patch(virtual_time):
    made = []

    def make(config: DaemonConfig, feedback: bool = False) -> Patch:
        made.append(Patch(virtual_time, config, feedback))
        made[-1].daemon.start()
        return made[-1]

    yield make
    for each in made:
        each.close()


def play(patch: Patch, pitches: list[int]) -> None:
    for pitch in pitches:
        patch.player.send([0x90, pitch, 100])
        patch.time.sleep(0.4 * BEAT)
        patch.player.send([0x80, pitch, 0])
        patch.time.sleep(0.1 * BEAT)


def test_an_echo_is_recognised_once_and_only_within_its_window():
    guard = EchoGuard()
    guard.sent([0x90, 60, 100], at=10.0)
    assert not guard.is_echo([0x90, 60, 99], 10.002)  # another velocity: the player
    assert not guard.is_echo([0xB0, 64, 127], 10.002)  # not a note
    assert guard.is_echo([0x90, 60, 100], 10.002)
    assert not guard.is_echo([0x90, 60, 100], 10.003)  # each send comes back once
    guard.sent([0x80, 60, 0], at=20.0)
    assert not guard.is_echo([0x80, 60, 0], 20.0 + ECHO_WINDOW_SECONDS + 0.01)  # too late
    guard.sent([0x80, 62, 0], at=30.0)
    assert not guard.is_echo([0x80, 62, 0], 29.9)  # before it was sent
    assert guard.echoes == 1


def test_a_patching_loop_is_not_answered(patch):
    p = patch(DaemonConfig(bpm=BPM, min_answer_beats=2, max_answer_beats=2), feedback=True)
    play(p, [60, 64, 67])
    assert p.wait_until(lambda: p.daemon.loop.stats.answers_finished >= 1, timeout=10)
    p.time.sleep(8 * BEAT)  # time for the answer's echo to be taken for a call, and answered
    assert p.daemon.loop.stats.phrases_heard == 1, p.daemon.loop.stats
    assert p.daemon.gate.stats.echoes >= 2  # the answer's notes came back and were dropped
    assert unmatched_note_ons(p.messages()) == {}


def test_without_the_guard_the_loop_answers_itself(patch):
    """The control for the test above: the same patch, the guard taken away."""
    p = patch(DaemonConfig(bpm=BPM, min_answer_beats=2, max_answer_beats=2), feedback=True)
    p.daemon.gate.echo_guard = None
    play(p, [60, 64, 67])
    assert p.wait_until(lambda: p.daemon.loop.stats.phrases_heard >= 2, timeout=10 * BEAT + 5)


def test_thru_plays_the_players_notes_at_once_and_releases_them_at_a_stop(patch):
    p = patch(DaemonConfig(bpm=BPM, thru=True, min_answer_beats=8, max_answer_beats=8))
    p.player.send([0xB0, 64, 127])
    p.player.send([0x91, 50, 70])  # held: its note-off never comes before the stop
    assert p.wait_until(lambda: [0x91, 50, 70] in p.messages(), timeout=1)
    assert [0xB0, 64, 127] in p.messages()
    p.daemon.stop()
    messages = p.messages()
    assert [0x81, 50, 0] in messages and [0xB0, 64, 0] in messages
    assert unmatched_note_ons(messages) == {}


def test_a_barge_in_cuts_the_answer_not_the_players_thru_notes(patch):
    p = patch(DaemonConfig(bpm=BPM, thru=True, min_answer_beats=16, max_answer_beats=16))
    play(p, [60, 62])
    assert p.wait_until(lambda: p.daemon.loop.stats.phrases_heard == 1 and p.daemon.scheduler
                      .sounding(), timeout=10)
    p.player.send([0x90, 48, 90])  # the player comes in, and holds the key
    assert p.wait_until(lambda: p.daemon.loop.stats.barge_ins == 1, timeout=2)
    p.time.sleep(0.1)
    assert [0x80, 48, 0] not in p.messages()  # the player's note sounds on
    p.player.send([0x80, 48, 0])
    assert p.wait_until(lambda: [0x80, 48, 0] in p.messages(), timeout=1)


def test_thru_turned_off_while_playing_releases_what_it_held(patch):
    p = patch(DaemonConfig(bpm=BPM, thru=True))
    p.player.send([0x90, 55, 80])
    assert p.wait_until(lambda: [0x90, 55, 80] in p.messages(), timeout=1)
    p.daemon.apply_config(DaemonConfig(bpm=BPM, thru=False))
    assert [0x80, 55, 0] in p.messages()
    p.player.send([0x90, 57, 80])
    p.time.sleep(0.05)
    assert [0x90, 57, 80] not in p.messages()
