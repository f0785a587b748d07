"""Idling costs nothing: a silence of a day is stepped through the model like one of a
few bars (MAX_HEARD_SILENCE_TICKS), the beat phase the model hears is kept, and the
session answers, and rewinds an answer, after it as after any silence."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.engine.events import MAX_HEARD_SILENCE_TICKS, TICKS_PER_BEAT, NoteEvent
from antiphon.engine.frame_session import FrameSession
from antiphon.engine.model import StepModel
from antiphon.engine.session import Session, open_session
from antiphon.exported_models import model_path

BPM = 120
MINUTE = BPM * TICKS_PER_BEAT  # ticks in a minute at 120 BPM
DAY = 24 * 60 * MINUTE
MODELS = ["default", "nade-nottingham"]  # a token model and a piano-roll one
# A one-bar call that ends off the beat (tick 93), so the silence after it does too.
CALL = [NoteEvent(0, 60, 90), NoteEvent(12, 60, 0), NoteEvent(24, 64, 90),
        NoteEvent(45, 64, 0), NoteEvent(48, 67, 90), NoteEvent(93, 67, 0)]
CALL_END = 93


@pytest.fixture
def count_steps(monkeypatch):
    """Counts the model steps of every StepModel, token and frame alike."""
    steps = {"count": 0}
    for name in ("step", "step_frame"):
        original = getattr(StepModel, name)

        def counted(self, *args, _original=original, **kwargs):
            steps["count"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(StepModel, name, counted)
    return steps


def listening_session(name: str, seed: int = 0) -> Session | FrameSession:
    session = open_session(model_path(name), device="cpu", seed=seed)
    session.observe(CALL)
    return session


def steps_to_advance(session, ticks: int, count_steps) -> int:
    before = count_steps["count"]
    session.advance_to(session.tick + ticks)
    return count_steps["count"] - before


@pytest.mark.parametrize("name", MODELS)
def test_a_day_of_silence_costs_the_steps_of_a_minute(name, count_steps):
    minute, day = listening_session(name), listening_session(name)
    minute_steps = steps_to_advance(minute, MINUTE, count_steps)
    day_steps = steps_to_advance(day, DAY, count_steps)
    assert minute_steps == day_steps
    # A token model hears the silence as 2-beat SHIFTs; a frame model frame by frame.
    frames_per_beat = 2 if name == "nade-nottingham" else 1 / 2
    assert 0 < day_steps <= MAX_HEARD_SILENCE_TICKS / TICKS_PER_BEAT * frames_per_beat + 2
    assert day.tick == CALL_END + DAY and minute.tick == CALL_END + MINUTE


@pytest.mark.parametrize("name", MODELS)
def test_the_first_note_after_a_day_costs_no_more_than_after_a_minute(name, count_steps):
    costs = []
    for silence in (MINUTE, DAY):
        session = listening_session(name)
        before = count_steps["count"]
        session.observe([NoteEvent(CALL_END + silence, 62, 80)])
        costs.append(count_steps["count"] - before)
        assert session.tick == CALL_END + silence
    assert costs[0] == costs[1] <= MAX_HEARD_SILENCE_TICKS // 12 + 2


def test_the_token_model_keeps_the_beat_phase_across_the_jump():
    session = listening_session("default")
    session.advance_to(CALL_END + DAY + 5)
    heard = sum(session.codec.shift_ticks(token) for token in session.context)
    assert heard <= CALL_END + MAX_HEARD_SILENCE_TICKS  # the silence was heard capped...
    assert heard % TICKS_PER_BEAT == session.tick % TICKS_PER_BEAT  # ...on the same beat


@pytest.mark.parametrize("name", MODELS)
def test_an_answer_after_a_day_of_silence_starts_where_asked(name, count_steps):
    session = listening_session(name, seed=3)
    start = CALL_END + DAY + 3  # off the beat: the frames start at the next frame boundary
    before = count_steps["count"]
    answer = list(session.generate(start, 4 * TICKS_PER_BEAT, max_opening_rest_ticks=0))
    assert count_steps["count"] - before < 200  # the silence and 4 beats of answer, no more
    first_boundary = start if name == "default" else -(-start // 12) * 12
    assert answer and answer[0].tick == first_boundary and answer[0].velocity > 0
    assert all(first_boundary <= e.tick <= first_boundary + 4 * TICKS_PER_BEAT for e in answer)
    if name == "nade-nottingham":  # still on the frame grid of the beat the call began on
        assert all(e.tick % 12 == 0 for e in answer)
    sounding = set()
    for event in answer:
        (sounding.add if event.velocity else sounding.discard)(event.pitch)
    assert not sounding  # every note released


@pytest.mark.parametrize("name", MODELS)
def test_rewind_works_across_the_jump(name):
    session = listening_session(name, seed=5)
    start = CALL_END + DAY + 3
    session.advance_to(start)
    before = [np.array(s, copy=True) for s in session._state]
    assert list(session.generate(start, 8 * TICKS_PER_BEAT))
    answer_start = start if name == "default" else -(-start // 12) * 12  # a frame boundary
    # A barge-in two beats into the answer: the session goes back there and answers again.
    cut = answer_start + 2 * TICKS_PER_BEAT
    session.rewind(cut)
    assert session.tick == cut
    again = list(session.generate(cut + TICKS_PER_BEAT, 2 * TICKS_PER_BEAT,
                                  max_opening_rest_ticks=0))
    assert again and all(cut + TICKS_PER_BEAT <= e.tick <= cut + 3 * TICKS_PER_BEAT
                         for e in again)
    # A barge-in before the answer began (in the silence the session jumped over): the
    # answer is forgotten whole, the model is as it was before answering.
    session = listening_session(name, seed=5)
    session.advance_to(start)
    list(session.generate(start, 8 * TICKS_PER_BEAT))
    session.rewind(start - 1)
    assert session.tick == answer_start
    for kept, now in zip(before, session._state, strict=True):
        np.testing.assert_array_equal(kept, now)
