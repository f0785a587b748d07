"""The call-and-response state machine, driven by hand: no threads, no clock."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antiphon.daemon.play.interaction import (
    AnswerEnded,
    CallAndResponse,
    Mode,
    Observe,
    PhrasePolicy,
    StartAnswer,
    StopAnswer,
    answer_length,
    next_grid_point,
)
from antiphon.engine.events import NoteEvent

POLICY = PhrasePolicy(silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=8.0,
                      grid_beats=1.0)


def note(beat: float, pitch: int, velocity: int = 100) -> NoteEvent:
    return NoteEvent(round(beat * 24), pitch, velocity)


def play(machine: CallAndResponse, notes: list[tuple[float, float, int]]) -> list:
    """Strike and release (start, end, pitch) notes in time order; returns the actions."""
    events = sorted(
        [note(start, pitch) for start, _, pitch in notes]
        + [note(end, pitch, 0) for _, end, pitch in notes],
        key=lambda e: (e.tick, e.velocity > 0),
    )
    actions = []
    for event in events:
        actions += machine.on_event(event, event.tick / 24)
    return actions


def test_idle_until_the_player_strikes():
    machine = CallAndResponse(POLICY)
    assert machine.mode is Mode.IDLE
    assert machine.next_deadline() is None
    assert machine.on_tick(100.0) == []
    assert machine.on_event(note(1.0, 60, 0), 1.0) == []  # a stray release is not a phrase


def test_every_note_of_the_call_is_observed():
    machine = CallAndResponse(POLICY)
    actions = play(machine, [(0.0, 0.5, 60), (0.5, 1.0, 64)])
    assert [type(action) for action in actions] == [Observe] * 4
    assert machine.mode is Mode.LISTENING


def test_phrase_ends_after_the_silence_and_not_before():
    machine = CallAndResponse(POLICY)
    play(machine, [(0.0, 0.875, 60), (1.0, 3.625, 64)])
    assert machine.next_deadline() == pytest.approx(4.625)
    assert machine.on_tick(4.5) == []
    (action,) = machine.on_tick(4.625)
    assert isinstance(action, StartAnswer)
    assert action.call_beats == pytest.approx(3.625)
    assert action.length_beats == 4.0  # about as long as the call
    assert action.start_beats == 5.0  # the next beat
    assert machine.mode is Mode.RESPONDING


def test_no_phrase_end_while_a_key_is_held_up_to_the_bound():
    machine = CallAndResponse(POLICY)
    machine.on_event(note(0.0, 60), 0.0)
    assert machine.next_deadline() == pytest.approx(POLICY.max_hold_beats)
    assert machine.on_tick(7.9) == []
    machine.on_event(note(7.5, 60, 0), 7.9)
    assert machine.next_deadline() == pytest.approx(8.5)


@pytest.mark.parametrize(("call_end", "expected"), [(0.25, 2.0), (5.375, 5.0), (30.0, 8.0)])
def test_answer_length_is_clamped(call_end, expected):
    machine = CallAndResponse(POLICY)
    play(machine, [(0.0, call_end, 60)])
    (action,) = machine.on_tick(call_end + 1.0)
    assert action.length_beats == expected


def test_answer_starts_on_the_grid_of_the_call():
    policy = PhrasePolicy(silence_beats=0.5, grid_beats=4.0)  # on the bar
    machine = CallAndResponse(policy)
    play(machine, [(0.25, 5.125, 60)])  # the player's downbeat is the clock's beat 0.25
    (action,) = machine.on_tick(5.625)
    assert action.start_beats == 8.25


def test_answer_starts_on_the_clock_grid_when_the_player_shares_the_clock():
    policy = PhrasePolicy(silence_beats=0.5, grid_beats=4.0, grid_from_call=False)
    machine = CallAndResponse(policy)
    play(machine, [(0.25, 5.125, 60)])
    (action,) = machine.on_tick(5.625)
    assert action.start_beats == 8.0


def test_answer_ends_then_idle():
    machine = CallAndResponse(POLICY)
    play(machine, [(0.0, 2.0, 60)])
    (start,) = machine.on_tick(3.0)
    end = start.start_beats + start.length_beats
    assert machine.next_deadline() == end
    assert machine.on_tick(end - 0.01) == []
    assert machine.on_tick(end) == [AnswerEnded(end)]
    assert machine.mode is Mode.IDLE


def test_barge_in_stops_the_answer_and_listens():
    machine = CallAndResponse(POLICY)
    play(machine, [(0.0, 2.0, 60)])
    machine.on_tick(3.0)  # answer from beat 3 to 5
    actions = machine.on_event(note(3.5, 67), 3.52)  # noticed a little after it came
    assert actions == [StopAnswer(3.5), Observe(note(3.5, 67))]
    assert machine.mode is Mode.LISTENING
    machine.on_event(note(4.0, 67, 0), 4.0)
    (action,) = machine.on_tick(5.0)
    assert action.call_beats == pytest.approx(0.5)  # the new phrase starts at the barge-in
    assert action.length_beats == 2.0


def test_release_during_an_answer_is_not_a_barge_in():
    machine = CallAndResponse(POLICY)
    play(machine, [(0.0, 2.0, 60)])
    machine.on_tick(3.0)
    assert machine.on_event(note(3.5, 50, 0), 3.5) == []
    assert machine.mode is Mode.RESPONDING


def test_a_note_after_the_answer_end_starts_a_new_phrase_without_a_barge_in():
    machine = CallAndResponse(POLICY)
    play(machine, [(0.0, 2.0, 60)])
    machine.on_tick(3.0)  # answer 3..5; the loop has not ticked at 5 yet
    actions = machine.on_event(note(5.2, 62), 5.2)
    assert actions == [AnswerEnded(5.0), Observe(note(5.2, 62), opens_phrase=True)]
    assert machine.mode is Mode.LISTENING


def test_answer_moved_extends_the_answer():
    machine = CallAndResponse(POLICY)
    play(machine, [(0.0, 2.0, 60)])
    (start,) = machine.on_tick(3.0)
    machine.answer_moved(start.start_beats + 1.0, start.length_beats)
    assert machine.next_deadline() == start.start_beats + 1.0 + start.length_beats


@given(
    call=st.floats(0.1, 40.0),
    silence=st.floats(0.05, 4.0),
    grid=st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]),
    low=st.floats(0.5, 8.0),
    extra=st.floats(0.0, 16.0),
    start=st.floats(0.0, 1000.0),
    from_call=st.booleans(),
)
def test_answers_are_on_the_grid_and_within_bounds(
    call, silence, grid, low, extra, start, from_call
):
    policy = PhrasePolicy(silence, low, low + extra, grid, grid_from_call=from_call)
    machine = CallAndResponse(policy)
    play(machine, [(start, start + call, 60)])
    deadline = machine.next_deadline()
    (action,) = machine.on_tick(deadline)
    assert low <= action.length_beats <= low + extra
    assert action.start_beats >= deadline - 1e-6
    assert action.start_beats - deadline < grid + 1e-6
    origin = round(start * 24) / 24 if from_call else 0.0
    steps = (action.start_beats - origin) / grid
    assert steps == pytest.approx(round(steps), abs=1e-6)


def test_helpers():
    assert next_grid_point(4.0, 1.0) == 4.0
    assert next_grid_point(4.01, 1.0) == 5.0
    assert next_grid_point(4.01, 0.5) == 4.5
    assert next_grid_point(4.01, 1.0, origin=0.25) == 4.25
    assert answer_length(7.75, POLICY) == 8.0
    assert answer_length(0.0, POLICY) == 2.0


def test_phrase_end_bars_on_the_clocks_bars():
    """A call that began in bar 2 (beats 4-8) of the DAW's clock ends at the end of its
    second bar, beat 12, however it is played (a key still held is released there)."""
    policy = PhrasePolicy(phrase_end="bars", phrase_bars=2, grid_from_call=False)
    machine = CallAndResponse(policy)
    play(machine, [(5.0, 6.0, 60)])
    machine.on_event(note(9.0, 62), 9.0)  # held over the bar line
    assert machine.next_deadline() == 12.0
    assert machine.on_tick(11.9) == []
    *released, start = machine.on_tick(12.0)
    assert [action.event.velocity for action in released] == [0]
    assert start.start_beats == 12.0 and start.call_beats == 7.0


def test_phrase_end_by_the_pedal_or_a_control_and_never_by_silence():
    for end in ("pedal", "control"):
        machine = CallAndResponse(PhrasePolicy(phrase_end=end, max_hold_beats=8.0))
        play(machine, [(0.0, 1.0, 60)])
        assert machine.next_deadline() == 9.0  # only the bound: 8 beats of nothing
        assert machine.on_tick(3.0) == []
        (start,) = machine.end_phrase_now(3.0)
        assert start.start_beats == 3.0 and machine.mode is Mode.RESPONDING
        assert machine.end_phrase_now(3.5) == []  # no call being played: nothing to end


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12)), min_size=1, max_size=8),
       st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([True, False]))
def test_the_expected_answer_is_the_one_the_silence_asks_for(notes, grid, from_call):
    """What expected_answer predicts as the last key is let go (the best of N is drawn on
    it) is what the phrase end then plans, when nothing more is played."""
    policy = PhrasePolicy(silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=8.0,
                          grid_beats=grid, grid_from_call=from_call)
    machine = CallAndResponse(policy)
    timed, start = [], 0.25
    for gap, length in notes:
        timed.append((start, start + length / 8, 60 + len(timed)))
        start += gap / 8 + length / 8
    play(machine, timed)
    expected = machine.expected_answer()
    assert expected is not None
    deadline = machine.next_deadline()
    (planned,) = [a for a in machine.on_tick(deadline) if isinstance(a, StartAnswer)]
    assert planned == expected


def test_no_answer_is_expected_while_a_key_is_held_or_the_call_ends_otherwise():
    machine = CallAndResponse(POLICY)
    machine.on_event(note(0, 60), 0.0)
    assert machine.expected_answer() is None  # held
    machine.on_event(note(1, 60, 0), 1.0)
    assert machine.expected_answer() == StartAnswer(2.0, 2.0, 1.0)
    bars = CallAndResponse(PhrasePolicy(phrase_end="bars", phrase_bars=1))
    bars.on_event(note(0, 60), 0.0)
    bars.on_event(note(1, 60, 0), 1.0)
    assert bars.expected_answer() is None  # the bar line ends it, not the silence
