"""A piano-roll model answers on the player's beat grid, not the internal clock's.

The interaction loop runs with its real clock and scheduler, in virtual time; the player
starts the call at an off-beat phase of the clock (0.37 beats), as a player who
cannot hear the internal clock does. The loop lays the session's beat on the call's first
note, so the answer's frames, and every note-on of it, fall on the call's frame grid.
"""

from __future__ import annotations

import math
import queue

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import unmatched_note_ons
from virtual_play import VirtualOutput, VirtualTime

from antiphon.daemon.midi.loopback import MessageRecorder
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction import PhrasePolicy
from antiphon.daemon.play.interaction_loop import InteractionLoop
from antiphon.daemon.play.loop_parts import LoopSettings
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.engine.events import TICKS_PER_BEAT
from antiphon.engine.session import open_session
from antiphon.exported_models import model_path

BPM = 240.0  # a beat is 0.25 s: short tests
PHASE = 0.37  # where in the clock's beat the call starts
TOLERANCE_SECONDS = 0.005  # the tick the call is heard on, plus the scheduler's jitter
POLICY = PhrasePolicy(silence_beats=1.0, min_answer_beats=4.0, max_answer_beats=4.0,
                      grid_beats=1.0)
# (beat in the call, length in beats, pitch): a C major arpeggio in the middle of the keys.
CALL = [(0.0, 0.4, 60), (0.5, 0.4, 64), (1.0, 0.4, 67), (1.5, 0.9, 72)]


class CallRig:
    """An InteractionLoop, a player scheduling notes into it on the same clock, and
    recorders of both sides, in virtual time (virtual_play.py): the model's sampling takes
    no virtual time, so what is checked is where the answer lands, not how fast this
    machine samples."""

    def __init__(self, time: VirtualTime, session, policy: PhrasePolicy = POLICY) -> None:
        self.time = time
        self.clock = Clock(BPM, time_source=time)
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.calls = MessageRecorder()

        def heard(arrived: float, message: list[int]) -> None:
            self.calls(arrived, message)
            self.inbox.put((arrived, message))

        self.answers = MessageRecorder()
        self.scheduler = OutputScheduler(VirtualOutput(time, self.answers), self.clock)
        self.player = OutputScheduler(VirtualOutput(time, heard), self.clock)
        self.loop = InteractionLoop(session, self.scheduler, self.clock,
                                    LoopSettings(policy, max_opening_rest_beats=0.5),
                                    self.inbox)

    def __enter__(self) -> CallRig:
        try:
            self.scheduler.start()
            self.player.start()
            self.loop.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def answer_finished(self, timeout: float = 10.0) -> bool:
        """Wait up to `timeout` virtual seconds for an answer's end."""
        return self.time.wait_until(self.loop.answer_finished.is_set, timeout)

    def __exit__(self, *exc) -> None:
        self.player.stop()
        self.loop.stop()
        self.scheduler.stop()

    def play_call(self, at_beats: float) -> None:
        for beat, length, pitch in CALL:
            self.player.schedule(at_beats + beat, [0x90, pitch, 90])
            self.player.schedule(at_beats + beat + length, [0x80, pitch, 0])

    def off_beat(self, beats_ahead: float = 1.0) -> float:
        """A moment PHASE into a beat of the clock, at least `beats_ahead` from now."""
        return math.floor(self.clock.now_beats() + beats_ahead) + 1 + PHASE

    def first_call_beat(self) -> float:
        arrived = next(t for t, m in self.calls.messages() if m[0] & 0xF0 == 0x90)
        return self.clock.beats_at(arrived)

    def answer_note_on_beats(self) -> list[float]:
        return [self.clock.beats_at(t) for t, m in self.answers.messages()
                if m[0] & 0xF0 == 0x90 and m[2] > 0]


def seconds_off_grid(beats: list[float], origin: float, step_beats: float) -> list[float]:
    """How far each moment lies from origin + a whole number of steps, in seconds."""
    offs = []
    for beat in beats:
        steps = (beat - origin) / step_beats
        offs.append(abs(steps - round(steps)) * step_beats * 60.0 / BPM)
    return offs


@pytest.mark.parametrize("name", ["nade-jsb", "nade-nottingham"])
def test_a_piano_roll_answer_lands_on_the_calls_frame_grid(name, virtual_time):
    session = open_session(model_path(name), device="cpu", seed=4)
    frame_beats = 1 / session.codec.config.frames_per_beat
    with CallRig(virtual_time, session) as rig:
        rig.play_call(rig.off_beat())
        assert rig.answer_finished(), "no answer finished"
    assert rig.loop.error is None
    call_start = rig.first_call_beat()
    assert abs(call_start % 1 - PHASE) < 0.02  # the call really came off the clock's beat
    onsets = rig.answer_note_on_beats()
    assert onsets, "the answer played nothing"
    assert max(seconds_off_grid(onsets, call_start, frame_beats)) < TOLERANCE_SECONDS, (
        f"answer onsets, in beats after the call's first note: "
        f"{[round(b - call_start, 3) for b in onsets]}")
    assert unmatched_note_ons(m for _, m in rig.answers.messages()) == {}


def test_with_a_shared_clock_the_answer_keeps_the_clocks_grid(virtual_time):
    """grid_from_call=False: the player hears the clock (MIDI clock in), so the frames stay
    on the clock's beats, wherever the call started."""
    session = open_session(model_path("nade-nottingham"), device="cpu", seed=4)
    policy = PhrasePolicy(silence_beats=1.0, min_answer_beats=4.0, max_answer_beats=4.0,
                          grid_beats=1.0, grid_from_call=False)
    with CallRig(virtual_time, session, policy) as rig:
        rig.play_call(rig.off_beat())
        assert rig.answer_finished(), "no answer finished"
    onsets = rig.answer_note_on_beats()
    assert onsets
    assert max(seconds_off_grid(onsets, 0.0, 0.5)) < TOLERANCE_SECONDS


def test_each_phrase_after_a_silence_is_heard_from_a_session_beat(virtual_time):
    """The session hears each call's first note on one of its beats, whatever the clock's
    phase, and its time never goes back, answer after answer."""
    session = FakeSession()
    with CallRig(virtual_time, session) as rig:
        for phase_shift in (0.0, 0.21):
            before = len(session.observed)
            rig.play_call(rig.off_beat() + phase_shift)
            finished = len(session.generated)
            assert rig.answer_finished()
            rig.loop.answer_finished.clear()
            assert len(session.generated) == finished + 1
            first = session.observed[before]
            assert first.velocity > 0 and first.tick % TICKS_PER_BEAT == 0
            start, _, _ = session.generated[-1]
            assert start % TICKS_PER_BEAT == 0  # the answer starts on a session beat too
            rig.time.sleep(0.5)  # let the answer's end pass: the next call follows a silence
    ticks = [event.tick for event in session.observed]
    assert ticks == sorted(ticks)
