"""The same pitch held on two channels (a keyboard split across channels, two players):
letting go of it on one channel ends nothing while the other still sounds it. Keys, the
pedal's held notes, the phrase detector and what the model hears all go by channel and
pitch. The pure parts in virtual time (beats given by hand), then the loop itself."""

from __future__ import annotations

import pytest
from daemon_fakes import FakeSession
from virtual_play import running_loop

from antiphon.daemon.play.interaction import (
    CallAndResponse,
    Mode,
    Observe,
    PhrasePolicy,
    StartAnswer,
)
from antiphon.daemon.play.loop_parts import LoopSettings
from antiphon.daemon.play.pedal import PlayedNotes
from antiphon.engine.events import NoteEvent

POLICY = PhrasePolicy(silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=4.0,
                      grid_beats=1.0, max_hold_beats=8.0)


def on(channel: int, pitch: int, velocity: int = 100) -> list[int]:
    return [0x90 | channel - 1, pitch, velocity]


def off(channel: int, pitch: int) -> list[int]:
    return [0x80 | channel - 1, pitch, 0]


def pedal(channel: int, down: bool) -> list[int]:
    return [0xB0 | channel - 1, 64, 127 if down else 0]


class Player:
    """The loop's ears, driven by hand in virtual time: messages at beats."""

    def __init__(self) -> None:
        self.played = PlayedNotes()
        self.machine = CallAndResponse(POLICY)
        self.heard: list[NoteEvent] = []  # what the model would hear

    def at(self, beat: float, *messages: list[int]) -> list:
        actions = self.machine.on_tick(beat)
        for message in messages:
            for event in self.played.hear(message, round(beat * 24)):
                actions += self.machine.on_event(event, beat)
        self.heard += [a.event for a in actions if isinstance(a, Observe)]
        return actions


def test_a_pitch_released_on_one_channel_sounds_on_while_another_holds_it():
    p = Player()
    p.at(0.0, on(1, 60))
    p.at(0.5, on(2, 60))
    p.at(1.0, off(1, 60))
    for beat in (2.0, 2.5, 3.0):  # a beat and more after channel 1 let go: no phrase end
        assert p.at(beat) == [] and p.machine.mode is Mode.LISTENING
    p.at(3.5, off(2, 60))
    assert p.machine.next_deadline() == pytest.approx(4.5)  # the silence after the last
    (answer,) = p.at(4.5)
    assert isinstance(answer, StartAnswer) and answer.call_beats == pytest.approx(3.5)
    # The model hears one voice: struck, struck again on channel 2, released at the last.
    assert [(e.tick, e.pitch, e.velocity) for e in p.heard] == [
        (0, 60, 100), (12, 60, 0), (12, 60, 100), (84, 60, 0)]


def test_a_chord_across_channels_ends_when_its_last_channel_lets_go():
    p = Player()
    p.at(0.0, on(1, 60), on(3, 60), on(3, 64))
    p.at(0.5, off(3, 60), off(3, 64))
    assert p.at(2.0) == []  # channel 1 still holds 60
    p.at(2.5, off(1, 60))
    assert isinstance(p.at(3.5)[-1], StartAnswer)
    assert p.played.sounding() == {}


def test_the_pedal_on_one_channel_holds_the_pitch_another_channel_lets_go():
    p = Player()
    p.at(0.0, pedal(1, True), on(1, 60))
    p.at(0.25, off(1, 60))  # rings under channel 1's pedal
    p.at(0.5, on(2, 60))
    p.at(0.75, off(2, 60))  # channel 2 has no pedal down, but channel 1 still sounds it
    assert p.played.sounding() == {60: {0}}
    assert p.at(2.0) == [] and p.machine.mode is Mode.LISTENING
    p.at(2.5, pedal(2, False))  # another channel's pedal lifts: nothing of 60 ends
    assert p.played.sounding() == {60: {0}}
    p.at(3.0, pedal(1, False))
    assert p.played.sounding() == {}
    assert p.heard[-1] == NoteEvent(72, 60, 0)
    assert isinstance(p.at(4.0)[-1], StartAnswer)


def test_a_release_on_a_channel_that_never_struck_the_pitch_changes_nothing():
    p = Player()
    p.at(0.0, on(1, 60))
    p.at(0.5, off(2, 60))  # a stray release (struck before the loop listened)
    assert p.at(2.0) == [] and p.played.sounding() == {60: {0}}
    assert [e.velocity for e in p.heard] == [100]


def test_the_loop_waits_for_the_last_channel_to_let_go(virtual_time):
    """The loop with its real clock and scheduler (in virtual time): channel 1 lets go of
    60 while channel 2 holds it; no phrase ends until channel 2 lets go too."""
    bpm = 400.0  # a beat is 0.15 s
    session = FakeSession()
    policy = PhrasePolicy(silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=2.0,
                          max_hold_beats=64.0)
    with running_loop(virtual_time, session, LoopSettings(policy), bpm) as (loop, clock, inbox):
        now = clock.now_beats()
        inbox.put((clock.seconds_at(now), on(1, 60)))
        inbox.put((clock.seconds_at(now), on(2, 60)))
        inbox.put((clock.seconds_at(now + 0.25), off(1, 60)))
        # 8 beats: 7 past the silence
        assert not virtual_time.wait_until(loop.answer_finished.is_set, 8 * 60.0 / bpm)
        assert loop.stats.phrases_heard == 0 and loop.machine.mode is Mode.LISTENING
        released = clock.now_beats()
        inbox.put((clock.seconds_at(released), off(2, 60)))
        assert virtual_time.wait_until(lambda: loop.stats.phrases_heard == 1, timeout=5)
    assert loop.error is None
    first, *_, last = [e for e in session.observed if e.pitch == 60]
    assert first.velocity and last.velocity == 0  # released once, at channel 2's release
    assert abs((last.tick - first.tick) - (released - now) * 24) <= 1


def test_a_pitch_whose_release_was_lost_on_one_channel_holds_nothing_once_forgotten(virtual_time):
    """Channel 1's release of 60 is lost on the way: the call ends max_hold_beats later,
    the key forgotten. Struck and let go later on channel 2, 60 ends at that release, not
    held another max_hold_beats by channel 1's forgotten key."""
    bpm = 400.0  # a beat is 0.15 s
    session = FakeSession()
    policy = PhrasePolicy(silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=2.0,
                          max_hold_beats=8.0)
    with running_loop(virtual_time, session, LoopSettings(policy), bpm) as (loop, clock, inbox):
        inbox.put((clock.seconds_at(clock.now_beats()), on(1, 60)))  # its release is lost
        assert virtual_time.wait_until(lambda: loop.stats.phrases_heard == 1, timeout=10)
        assert virtual_time.wait_until(loop.answer_finished.is_set, 10)
        struck = clock.now_beats()
        inbox.put((clock.seconds_at(struck), on(2, 60)))
        inbox.put((clock.seconds_at(struck + 0.5), off(2, 60)))
        assert virtual_time.wait_until(lambda: loop.stats.phrases_heard == 2, timeout=10)
    assert loop.error is None
    *_, strike, release = [e for e in session.observed if e.pitch == 60]
    assert strike.velocity and release.velocity == 0
    assert abs((release.tick - strike.tick) - 0.5 * 24) <= 1  # at channel 2's release
