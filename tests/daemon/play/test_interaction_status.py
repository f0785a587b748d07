"""The status's mode says what the loop does: after a MIDI Stop or a panic (the control
socket's, a panic knob's, a panic key's) drops the answer, it is idle, or listening when
the player is in a call; never "responding" with nothing to play."""

from __future__ import annotations

import queue
import time

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import wait_until
from virtual_play import VirtualOutput, VirtualTime

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.knobs import Knobs
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction import CallAndResponse, Mode, PhrasePolicy
from antiphon.daemon.play.interaction_loop import InteractionLoop
from antiphon.daemon.play.loop_parts import LoopSettings
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.daemon.service.daemon import Daemon
from antiphon.engine.events import NoteEvent

BPM = 120.0
BEAT = 60.0 / BPM
LONG = dict(bpm=BPM, min_answer_beats=16.0, max_answer_beats=16.0)  # an 8 s answer
POLICY = PhrasePolicy(silence_beats=1.0, min_answer_beats=16.0, max_answer_beats=16.0)


def test_a_dropped_answer_leaves_the_machine_idle_and_a_call_listening():
    machine = CallAndResponse(POLICY)
    machine.on_event(NoteEvent(0, 60, 100), 0.0)
    assert not machine.drop_answer() and machine.mode is Mode.LISTENING  # a call goes on
    machine.on_event(NoteEvent(12, 60, 0), 0.5)
    machine.on_tick(1.5)
    assert machine.mode is Mode.RESPONDING
    assert machine.drop_answer() and machine.mode is Mode.IDLE
    assert machine.next_deadline() is None


class LoopRig:
    """The loop and its scheduler in virtual time, the test putting the player's messages
    on the loop's inbox as the input gate does."""

    def __init__(self, time: VirtualTime, follows_transport: bool = True) -> None:
        self.time = time
        self.clock = Clock(BPM, time_source=time)
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.scheduler = OutputScheduler(VirtualOutput(time, MessageRecorder()), self.clock)
        self.loop = InteractionLoop(FakeSession(), self.scheduler, self.clock,
                                    LoopSettings(POLICY), self.inbox,
                                    follows_transport=follows_transport)

    def call(self) -> None:
        now = self.clock.now_beats()
        self.inbox.put((self.clock.seconds_at(now), [0x90, 60, 100]))
        self.inbox.put((self.clock.seconds_at(now + 0.25), [0x80, 60, 0]))

    def send(self, message: list[int]) -> None:
        self.inbox.put((self.time.now(), message))

    def wait_until(self, condition, timeout: float) -> bool:
        """Wait up to `timeout` virtual seconds for `condition()`."""
        return self.time.wait_until(condition, timeout)

    def close(self) -> None:
        self.loop.stop()
        self.scheduler.stop()


@pytest.fixture(params=[True], ids=["follows the transport"])
def loop_rig(virtual_time, request):
    rig = LoopRig(virtual_time, follows_transport=request.param)
    try:
        rig.scheduler.start()
        rig.loop.start()
        yield rig
    finally:
        rig.close()
    assert rig.loop.error is None


def test_a_midi_stop_during_an_answer_leaves_the_loop_idle(loop_rig):
    r = loop_rig
    r.call()
    assert r.wait_until(lambda: r.loop.machine.mode is Mode.RESPONDING, timeout=5)
    r.send([0xFC])
    assert r.wait_until(lambda: r.loop.machine.mode is Mode.IDLE, timeout=2)  # not 8 s on
    assert r.scheduler.sounding() == [] and not r.scheduler.pending()


def test_a_call_that_ends_while_the_daw_is_stopped_is_not_responded_to(loop_rig):
    r = loop_rig
    r.send([0xFC])
    r.call()
    assert r.wait_until(lambda: r.loop.stats.phrases_heard == 1, timeout=5)
    assert r.wait_until(lambda: r.loop.machine.mode is Mode.IDLE, timeout=1)
    r.time.sleep(0.2)
    assert r.loop.machine.mode is Mode.IDLE and r.loop.session.generated == []


@pytest.mark.parametrize("loop_rig", [False], ids=["answers when stopped"], indirect=True)
def test_a_loop_told_to_answer_when_stopped_answers_after_a_midi_stop(loop_rig):
    """answer_when_stopped: the DAW's Stop silences the answer but not the answering."""
    r = loop_rig
    r.send([0xFC])
    r.call()
    assert r.wait_until(lambda: r.loop.stats.answers_finished == 1, timeout=20)
    assert len(r.loop.session.generated) == 1 and not r.loop.transport_running


def test_a_midi_stop_while_the_player_plays_leaves_it_listening(loop_rig):
    r = loop_rig
    r.send([0x90, 64, 90])  # held
    assert r.wait_until(lambda: r.loop.machine.mode is Mode.LISTENING, timeout=2)
    r.send([0xFC])
    r.time.sleep(0.1)
    assert r.loop.machine.mode is Mode.LISTENING


# In real time: the knob and the key reach the loop through the knobs thread
# (control/knobs.py), which waits in real time, not a time source's.
@pytest.mark.parametrize("how", ["socket", "knob", "key"])
def test_a_panic_during_an_answer_leaves_the_status_idle(how):
    keyboard, daemon_in = loopback_pair("keys")
    daemon_out, recorder_in = loopback_pair("synth")
    recorder_in.set_receiver(MessageRecorder())
    config = DaemonConfig(**LONG, panic_cc=119, panic_note=21, seed=7, device="cpu")
    daemon = Daemon(config, FakeSession(), daemon_in, daemon_out)
    controller = Controller(daemon, lambda: config, lambda _: None)
    knobs = daemon.gate.controls = controller.knobs = Knobs(controller)
    knobs.start()
    daemon.start()
    mode = lambda: controller.brief()["mode"]  # noqa: E731 (the status's mode)
    try:
        keyboard.send([0x90, 60, 100])
        time.sleep(0.1)
        keyboard.send([0x80, 60, 0])
        assert wait_until(lambda: mode() == "responding" and daemon.scheduler.sounding(), 5)
        if how == "socket":
            assert controller.handle({"command": "panic"})["ok"]
        elif how == "knob":
            keyboard.send([0xB0, 119, 127])
        else:
            keyboard.send([0x90, 21, 100])
            keyboard.send([0x80, 21, 0])
        assert wait_until(lambda: mode() == "idle", timeout=2)  # the answer had 7 s to go
        assert daemon.scheduler.sounding() == []
        # The player is heard again at once: a new call, a new answer.
        keyboard.send([0x90, 62, 100])
        assert wait_until(lambda: mode() == "listening", timeout=2)
        keyboard.send([0x80, 62, 0])
        assert wait_until(lambda: daemon.loop.stats.phrases_heard == 2, timeout=5)
    finally:
        knobs.stop()
        daemon.stop()
