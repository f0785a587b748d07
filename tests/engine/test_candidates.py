"""Best of N: batched steps, candidates sampled as one batch, adopting the winner, and the
one-at-a-time path for models without batch axes (engine/candidates.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from antiphon.engine.answer_choice import answer_scores
from antiphon.engine.candidates import best_of
from antiphon.engine.constraints import PitchRules, scale_pitch_classes
from antiphon.engine.events import NoteEvent
from antiphon.engine.model import StepModel
from antiphon.engine.session import open_session
from antiphon.exported_models import model_path

MELODY = [60, 64, 67, 72, 71, 67, 69, 65, 64, 62, 64, 67]


def melody_call(pitches=MELODY, step: int = 24) -> list[NoteEvent]:
    events = []
    for index, pitch in enumerate(pitches):
        events += [NoteEvent(index * step, pitch, 80), NoteEvent(index * step + step - 4, pitch, 0)]
    return events


CALL = melody_call()
CALL_END = len(MELODY) * 24


@pytest.fixture(scope="module")
def default_path():
    return model_path("default")


def test_a_batch_of_rows_steps_as_the_rows_one_at_a_time():
    # Float32, exactly: an int8 graph quantises its activations with one scale for the
    # whole batch, so its rows agree only within quantize.INT8_BATCH_TOLERANCE
    # (tests/engine/test_int8_models.py holds the shipped int8 default to that).
    model = StepModel(model_path("default-fp32"), device="cpu")
    assert model.batch_axes == (1, 1)
    rng = np.random.default_rng(1)
    vocab = model.card.vocab_size
    state = [rng.standard_normal(s.shape).astype(np.float32)
             for s in model.batch_state(model.initial_state(), 4)]
    tokens = rng.integers(1, vocab, 4)
    uniform = rng.random((4, vocab), dtype=np.float32)
    bias = np.zeros((4, vocab), dtype=np.float32)
    bias[2, :128] = -1e9  # row 2 may not strike: only its row is masked
    samples, logits, stepped = model.step_batch(tokens, state, 0.8, uniform, bias, 0.9)
    for row in range(4):
        sample, row_logits, row_state = model.step(int(tokens[row]), model.row_state(state, row),
                                                   0.8, uniform[row:row + 1], bias[row], 0.9)
        assert sample == samples[row]
        np.testing.assert_allclose(row_logits[0], logits[row], atol=1e-5)
        for mine, theirs in zip(row_state, model.row_state(stepped, row), strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-5)
    assert samples[2] >= 128


def test_a_graph_without_batch_axes_steps_one_row_at_a_time():
    model = StepModel(model_path("transformer"), device="cpu")
    assert model.batch_axes is None
    with pytest.raises(ValueError, match="no batch axis"):
        model.step_batch(np.zeros(2, dtype=np.int64), [], 1.0,
                         np.zeros((2, model.card.vocab_size), np.float32),
                         np.zeros((2, model.card.vocab_size), np.float32))


def test_an_exported_recurrent_model_has_batch_axes(tiny_model_path):
    assert StepModel(tiny_model_path, device="cpu").batch_axes == (1, 1)


def _two_answers(path, batched: bool, cut: int | None = None):
    """An answer to CALL (one candidate adopted, or generated), optionally cut off at
    `cut`, then the next answer: the same seed must give the same music either way."""
    session = open_session(path, device="cpu", seed=11)
    session.observe(CALL)
    rules = PitchRules(max_polyphony=1)
    if batched:
        candidate = session.sample_candidates(CALL_END + 24, 96, 1, 1.0, 24, rules, 0.95)[0]
        session.adopt(candidate)
        first = candidate.events
    else:
        first = list(session.generate(CALL_END + 24, 96, 1.0, 24, rules, 0.95))
    if cut is not None:
        session.rewind(cut)
    second = list(session.generate(session.tick + 24, 96, 1.0, 24, rules, 0.95))
    return first, second, list(session.context)


@pytest.mark.parametrize("cut", [None, CALL_END + 24 + 40])
def test_one_candidate_adopted_is_the_answer_generate_samples(default_path, cut):
    """One row draws the same noise as a single step, so a batch of one must sample the
    very answer `generate` does; adopting it (and rewinding a barge-in into it) must leave
    the session exactly where `generate` leaves it: the next answer is the same too."""
    batched = _two_answers(default_path, True, cut)
    single = _two_answers(default_path, False, cut)
    assert batched[0] == single[0] and len(single[0]) > 4
    assert batched[1] == single[1]
    assert batched[2] == single[2]


def test_every_candidate_keeps_the_rules_and_ends_its_notes(default_path):
    session = open_session(default_path, device="cpu", seed=3)
    session.observe(CALL)
    d_dorian = scale_pitch_classes("D dorian")
    rules = PitchRules(48, 84, d_dorian, max_polyphony=1)
    start, length = CALL_END + 24, 192
    candidates = session.sample_candidates(start, length, 8, 1.2, 24, rules, 1.0)
    assert len({tuple(c.events) for c in candidates}) > 1  # each row its own draw
    for candidate in candidates:
        sounding: set[int] = set()
        for event in candidate.events:
            assert start <= event.tick <= start + length
            if event.velocity:
                assert event.pitch % 12 in d_dorian and 48 <= event.pitch <= 84
                sounding.add(event.pitch)
                assert len(sounding) <= 1
            else:
                sounding.discard(event.pitch)
        assert not sounding  # every note-on has its note-off by the answer's end


def test_best_of_plays_the_highest_scored_candidate(default_path):
    session = open_session(default_path, device="cpu", seed=5)
    session.observe(CALL)
    drawn = []

    def most_notes(answers):
        drawn.extend(answers)
        return np.array([sum(e.velocity > 0 for e in answer) for answer in answers], float)

    events, scores = best_of(session, 6, most_notes, CALL_END + 24, 96, 1.0, None,
                             PitchRules(max_polyphony=1), 1.0)
    assert len(scores) == len(drawn) == 6
    assert events == drawn[int(np.argmax(scores))]
    assert session.tick == CALL_END + 24 + 96  # the session stands at the answer's end


@pytest.mark.parametrize("name", ["transformer", "nade-nottingham"])
def test_models_without_batch_axes_draw_their_candidates_one_by_one(name):
    session = open_session(model_path(name), device="cpu", seed=2)
    session.observe(CALL)
    start, length = CALL_END + 24, 96
    events, scores = best_of(session, 3, lambda answers: np.arange(len(answers), dtype=float),
                             start, length, 1.0, 24, PitchRules(max_polyphony=2), 1.0)
    assert len(scores) == 3
    assert all(start <= event.tick <= start + length for event in events)
    assert session.tick >= start + length  # it heard the winner; it answers on from there
    later = list(session.generate(session.tick + 24, 48, 1.0, 24, None, 1.0))
    assert all(event.tick >= start + length for event in later)


def test_too_many_candidates_are_refused(default_path):
    session = open_session(default_path, device="cpu", seed=0)
    with pytest.raises(ValueError, match="1-16"):
        best_of(session, 17, lambda answers: np.zeros(len(answers)), 0, 48, 1.0, None, None, 1.0)


def test_the_metrics_prefer_an_answer_like_the_call():
    """Without a critic: the answer in the call's notes, pace and register wins over one
    off its key, one far denser and one two octaves up."""
    length = 192
    start = CALL_END + 24
    like = [replace(e, tick=e.tick + start) for e in melody_call(MELODY[:8])]
    off_key = [replace(e, tick=e.tick + start, pitch=e.pitch + 1) for e in like]
    dense = [replace(e, tick=e.tick + start) for e in melody_call(MELODY * 3, step=6)[:64]]
    high = [replace(e, tick=e.tick, pitch=e.pitch + 24) for e in like]
    scores = answer_scores(CALL, [off_key, dense, high, like, []], start, length)
    assert int(np.argmax(scores)) == 3
    assert scores[4] == min(scores)  # silence only when nothing else is drawn


def _marks_equal(one, other) -> bool:
    return (one.context == other.context and one.tick == other.tick
            and one.pending == other.pending and one.tokens_seen == other.tokens_seen
            and all(np.array_equal(a, b) for a, b in zip(one.state, other.state, strict=True)))


@pytest.mark.parametrize("stop_after", [None, 5])
def test_a_draw_abandoned_or_undone_leaves_the_session_as_it_was(default_path, stop_after):
    """Drawn ahead while the silence runs, then the player goes on: the session goes back
    to its mark and hears the next notes as if nothing had been drawn."""
    drawn_from = open_session(default_path, device="cpu", seed=1)
    untouched = open_session(default_path, device="cpu", seed=1)
    for session in (drawn_from, untouched):
        session.observe(CALL[:12])
    mark = drawn_from.mark()
    asked = []

    def stop() -> bool:
        asked.append(True)
        return stop_after is not None and len(asked) > stop_after

    drawn = drawn_from.sample_candidates(CALL[11].tick + 48, 96, 4, 1.0, None, None, 1.0, stop)
    assert (drawn is None) == (stop_after is not None)
    assert len(asked) == (stop_after + 1 if stop_after is not None else len(asked))
    drawn_from.restore(mark)
    assert _marks_equal(drawn_from.mark(), untouched.mark())
    for session in (drawn_from, untouched):
        session.observe(CALL[12:])
    assert _marks_equal(drawn_from.mark(), untouched.mark())
