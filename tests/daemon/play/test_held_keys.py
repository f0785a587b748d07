"""A key held past PhrasePolicy.max_hold_beats no longer holds the phrase open: a stuck
note-on (its note-off lost, a key that sticks) can never keep the daemon from answering.
The state machine driven by hand, then the loop with its real clock."""


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
from antiphon.engine.events import NoteEvent

POLICY = PhrasePolicy(silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=16.0,
                      grid_beats=1.0, max_hold_beats=8.0)


def note(beat: float, pitch: int, velocity: int = 100) -> NoteEvent:
    return NoteEvent(round(beat * 24), pitch, velocity)


def test_the_default_hold_is_two_bars():
    assert PhrasePolicy().max_hold_beats == 8.0


def test_a_stuck_key_ends_the_phrase_after_max_hold_beats():
    machine = CallAndResponse(POLICY)
    machine.on_event(note(0.25, 60), 0.25)
    assert machine.next_deadline() == pytest.approx(8.25)  # not None: the hold is bounded
    assert machine.on_tick(8.0) == []
    assert machine.mode is Mode.LISTENING
    actions = machine.on_tick(8.3)
    # The model hears the key end where it was forgotten, then the answer is planned.
    assert actions[0] == Observe(note(8.25, 60, 0))
    (answer,) = actions[1:]
    assert isinstance(answer, StartAnswer)
    assert answer.start_beats == pytest.approx(9.25)  # on the call's grid, after now
    assert answer.call_beats == pytest.approx(8.0)  # the held note was the call
    assert machine.mode is Mode.RESPONDING


def test_playing_on_while_a_key_sticks_keeps_the_phrase_open():
    machine = CallAndResponse(POLICY)
    machine.on_event(note(0.0, 48), 0.0)  # stuck from the start
    for beat in range(1, 20):  # a melody above it, a note a beat, for 19 beats
        machine.on_event(note(beat, 72), beat)
        machine.on_event(note(beat + 0.5, 72, 0), beat + 0.5)
        assert machine.on_tick(beat + 0.9) == []
    assert machine.next_deadline() == pytest.approx(19.5 + 8.0)  # from the last activity
    actions = machine.on_tick(27.5)
    assert actions[0] == Observe(note(27.5, 48, 0))
    assert isinstance(actions[1], StartAnswer)


def test_chords_the_player_holds_all_end_together():
    machine = CallAndResponse(POLICY)
    for pitch in (60, 64, 67):
        machine.on_event(note(1.0, pitch), 1.0)
    actions = machine.on_tick(9.0)
    assert actions[:3] == [Observe(note(9.0, p, 0)) for p in (60, 64, 67)]
    assert isinstance(actions[3], StartAnswer)


def test_a_late_note_off_of_a_forgotten_key_is_ignored():
    machine = CallAndResponse(POLICY)
    machine.on_event(note(0.0, 60), 0.0)
    (_, start) = machine.on_tick(8.0)
    assert machine.on_event(note(8.5, 60, 0), 8.5) == []  # during the answer: nothing
    assert machine.mode is Mode.RESPONDING
    # A new phrase; the forgotten key's note-off arrives in it and changes nothing.
    end = start.start_beats + start.length_beats
    machine.on_tick(end)
    assert machine.on_event(note(end + 1.0, 62), end + 1.0)[0].opens_phrase
    machine.on_event(note(end + 1.5, 62, 0), end + 1.5)
    assert machine.on_event(note(end + 1.8, 60, 0), end + 1.8) == []
    assert machine.next_deadline() == pytest.approx(end + 2.5)  # the silence after 62


def test_a_released_key_is_not_forgotten_twice():
    machine = CallAndResponse(POLICY)
    machine.on_event(note(0.0, 60), 0.0)
    machine.on_event(note(3.0, 60, 0), 3.0)
    (action,) = machine.on_tick(4.0)  # an ordinary phrase end: no forced release
    assert isinstance(action, StartAnswer)


def test_only_the_note_after_idle_opens_a_phrase_for_the_loop():
    """The loop lays the session's beat on a phrase's first note after IDLE; the other
    notes, and a barge-in (which answers the answer), leave the timeline alone."""
    machine = CallAndResponse(POLICY)
    first = machine.on_event(note(0.4, 60), 0.4)
    assert first == [Observe(note(0.4, 60), opens_phrase=True)]
    assert machine.on_event(note(0.9, 60, 0), 0.9) == [Observe(note(0.9, 60, 0))]
    assert machine.on_event(note(1.0, 62), 1.0) == [Observe(note(1.0, 62))]
    machine.on_event(note(1.5, 62, 0), 1.5)
    machine.on_tick(2.5)  # the answer: 3.4 .. 5.4
    barge_in = machine.on_event(note(4.0, 64), 4.0)
    assert barge_in[-1] == Observe(note(4.0, 64), opens_phrase=False)


def test_the_loop_answers_a_stuck_note(virtual_time):
    """A note-on whose note-off never comes: the daemon still answers, max_hold_beats
    after it, and the model heard the note end there."""
    bpm = 400.0  # a beat is 0.15 s
    policy = PhrasePolicy(silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=2.0,
                          max_hold_beats=4.0)
    session = FakeSession()
    with running_loop(virtual_time, session, LoopSettings(policy), bpm) as (loop, clock, inbox):
        struck = clock.seconds_at(clock.now_beats() + 0.5)
        inbox.put((struck, [0x90, 60, 100]))  # and never a note-off
        assert virtual_time.wait_until(loop.answer_finished.is_set, 5), (
            "the stuck note kept the daemon from answering")
    assert loop.error is None and loop.stats.phrases_heard == 1
    strike, release = session.observed[:2]
    assert (strike.pitch, release.pitch, release.velocity) == (60, 60, 0)
    assert release.tick - strike.tick == 4 * 24  # forgotten max_hold_beats after
