"""Session and the in-graph sampler, on a real exported model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from music_checks import assert_well_formed

from antiphon.engine.constraints import MASKED
from antiphon.engine.events import NoteEvent
from antiphon.engine.model import StepModel
from antiphon.engine.session import Engine, open_session


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    return Engine.load(tiny_model_path)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_every_answer_is_well_formed(engine, temperature):
    for seed in range(40):
        session = engine.new_session(seed=seed)
        session.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0), NoteEvent(12, 64, 80),
                         NoteEvent(24, 64, 0)])
        answer = list(session.generate(48, 96, temperature))
        assert_well_formed(answer, 48, 144)
        assert session.tick == 144  # the model's time ends where the answer ends


def test_answers_continue_the_timeline(engine):
    session = engine.new_session(seed=3)
    session.observe([NoteEvent(0, 60, 80), NoteEvent(24, 60, 0)])
    first = list(session.generate(48, 48))
    session.observe([NoteEvent(120, 62, 80), NoteEvent(130, 62, 0)])
    second = list(session.generate(150, 48))
    assert all(e.tick >= 150 for e in second) and session.tick == 198
    assert len(session.context) > len(first) + len(second)


def test_same_seed_same_answer(engine):
    def answer(seed):
        session = engine.new_session(seed=seed)
        session.observe([NoteEvent(0, 67, 90), NoteEvent(6, 67, 0)])
        return list(session.generate(24, 96))

    assert answer(11) == answer(11)
    assert any(answer(11) != answer(s) for s in range(12, 16))


def test_closing_early_releases_in_the_model_state(engine):
    session = engine.new_session(seed=5)
    stream = session.generate(0, 24 * 16, temperature=1.0)
    played = []
    for event in stream:
        played.append(event)
        if event.velocity:
            break
    stream.close()  # barge-in: the caller stops listening mid-answer
    # the model was told the note ended: observing from its present must work
    session.observe([NoteEvent(session.tick + 1, 60, 80)])
    assert played and played[-1].velocity > 0


def test_player_events_behind_the_model_are_placed_at_its_present(engine):
    session = engine.new_session(seed=1)
    list(session.generate(0, 96))
    session.observe([NoteEvent(10, 60, 80), NoteEvent(20, 60, 0)])  # played during the answer
    assert session.tick == 96


def test_context_is_bounded(engine):
    session = engine.new_session(seed=0, context_tokens=64)
    for bar in range(20):
        session.observe([NoteEvent(bar * 24, 60, 80), NoteEvent(bar * 24 + 12, 60, 0)])
    assert len(session.context) == 64


def test_bad_arguments(engine):
    session = engine.new_session()
    with pytest.raises(ValueError, match="temperature"):
        next(session.generate(0, 24, temperature=0))
    with pytest.raises(ValueError, match="length_ticks"):
        next(session.generate(0, 0))
    for top_p in (0.0, 1.5):
        with pytest.raises(ValueError, match="top_p"):
            next(session.generate(0, 24, top_p=top_p))


class TestInGraphSampler:
    """Gumbel-max inside the graph draws from softmax(logits / T), masked by logit_bias."""

    def prepared(self, tiny_model_path):
        model = StepModel(tiny_model_path)
        vocab = model.card.vocab_size
        zeros = np.zeros(vocab, np.float32)
        state = model.initial_state()
        _, _, state = model.step(0, state, 1.0, np.full((1, vocab), 0.5, np.float32), zeros)
        return model, state, vocab, zeros

    def draw(self, model, state, vocab, bias, temperature, count, seed=0, top_p=1.0):
        rng = np.random.default_rng(seed)
        samples, logits = [], None
        for _ in range(count):
            uniform = rng.random((1, vocab), dtype=np.float32)
            sample, logits, _ = model.step(60, state, temperature, uniform, bias, top_p)
            samples.append(sample)
        return np.bincount(samples, minlength=vocab) / count, logits[0]

    @pytest.mark.parametrize("temperature", [0.7, 1.0, 1.5])
    def test_frequencies_follow_the_tempered_softmax(self, tiny_model_path, temperature):
        model, state, vocab, zeros = self.prepared(tiny_model_path)
        freq, logits = self.draw(model, state, vocab, zeros, temperature, 3000)
        expected = softmax(logits / temperature)
        distance = 0.5 * np.abs(freq - expected).sum()  # total variation
        # The same statistic for exact draws from `expected` shows how large sampling
        # noise alone makes it; a wrong sampler (no temperature, a biased Gumbel) lands
        # far outside that.
        rng = np.random.default_rng(1)
        noise = [0.5 * np.abs(rng.multinomial(3000, expected) / 3000 - expected).sum()
                 for _ in range(50)]
        assert distance < 1.25 * np.percentile(noise, 95)

    @pytest.mark.parametrize("top_p", [0.5, 0.8])
    def test_top_p_draws_from_the_renormalised_nucleus(self, tiny_model_path, top_p):
        model, state, vocab, zeros = self.prepared(tiny_model_path)
        temperature = 1.5  # flattens the distribution, so the nucleus holds several tokens
        freq, logits = self.draw(model, state, vocab, zeros, temperature, 3000, top_p=top_p)
        probs = softmax(logits.astype(np.float64) / temperature)
        order = np.argsort(-probs)
        mass_before = np.cumsum(probs[order]) - probs[order]
        nucleus = order[mass_before < top_p]
        assert 1 < len(nucleus) < vocab
        outside = np.setdiff1d(np.arange(vocab), nucleus)
        assert freq[outside].sum() == 0.0
        expected = np.zeros(vocab)
        expected[nucleus] = probs[nucleus] / probs[nucleus].sum()
        distance = 0.5 * np.abs(freq - expected).sum()
        rng = np.random.default_rng(1)
        noise = [0.5 * np.abs(rng.multinomial(3000, expected) / 3000 - expected).sum()
                 for _ in range(50)]
        assert distance < 1.25 * np.percentile(noise, 95)

    def test_low_temperature_is_argmax(self, tiny_model_path):
        model, state, vocab, zeros = self.prepared(tiny_model_path)
        freq, logits = self.draw(model, state, vocab, zeros, 1e-3, 50)
        assert freq[int(np.argmax(logits))] == 1.0

    def test_masked_tokens_are_never_drawn(self, tiny_model_path):
        model, state, vocab, zeros = self.prepared(tiny_model_path)
        _, logits = self.draw(model, state, vocab, zeros, 1.0, 1)
        bias = zeros.copy()
        top = np.argsort(logits)[-5:]  # mask the five likeliest tokens
        bias[top] = MASKED
        freq, _ = self.draw(model, state, vocab, bias, 1.0, 500)
        assert freq[top].sum() == 0.0


def answer_with_notes(engine, seed=0, start=24, length=24 * 8):
    """A session and its answer, for a seed whose answer has notes in its second half."""
    for attempt in range(seed, seed + 50):
        session = engine.new_session(seed=attempt)
        session.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)])
        answer = list(session.generate(start, length))
        if sum(1 for e in answer if e.velocity and e.tick > start + length // 2) >= 2:
            return session, answer, attempt
    raise AssertionError("the model never played in the second half")


def test_rewind_forgets_what_was_not_heard(engine):
    start, length = 24, 24 * 8
    session, answer, seed = answer_with_notes(engine)
    cut = start + length // 2
    heard_everything = len(session.context)
    session.rewind(cut)
    assert session.tick == cut
    assert len(session.context) < heard_everything
    # The model now continues from the cut as if only the first half had been played:
    # exactly like a session that generated the same answer and was closed at the cut.
    twin = engine.new_session(seed=seed)
    twin.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)])
    stream = twin.generate(start, length)
    heard = list(itertools.takewhile(lambda e: e.tick <= cut, stream))
    stream.close()  # as the daemon does on a barge-in
    twin.rewind(cut)
    assert list(session.context) == list(twin.context)
    # and after the player's next phrase, both are in the same state: given the same noise
    # (their generators drew different amounts so far), they answer alike
    after = [NoteEvent(cut + 6, 64, 90), NoteEvent(cut + 18, 64, 0)]
    for s in (session, twin):
        s.observe(after)
        s._rng = np.random.default_rng(7)
    assert list(session.generate(cut + 24, 48)) == list(twin.generate(cut + 24, 48))
    assert heard


def test_rewind_releases_notes_sounding_at_the_cut(engine):
    session, answer, _ = answer_with_notes(engine)
    on = {}
    cut = None
    for event in answer:  # find a moment at which some answer note sounds
        if event.velocity:
            on[event.pitch] = event.tick
        else:
            if event.tick > on.pop(event.pitch) + 1:
                cut = event.tick - 1
                break
    assert cut is not None
    session.rewind(cut)
    names = [engine.codec.token_name(t) for t in session.context]
    assert names[-1].startswith("NOTE_OFF"), names[-5:]


def test_rewind_past_the_end_or_without_an_answer_changes_nothing(engine):
    session, _, _ = answer_with_notes(engine)
    before = list(session.context)
    session.rewind(session.tick + 10)
    assert list(session.context) == before
    fresh = engine.new_session()
    fresh.observe([NoteEvent(0, 60, 80)])
    fresh.rewind(0)
    assert fresh.tick == 0


@pytest.mark.parametrize("limit", [0, 6, 24])
def test_opening_rest_is_bounded(engine, limit):
    for seed in range(30):
        session = engine.new_session(seed=seed)
        session.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)])
        answer = list(session.generate(48, 96, temperature=1.5, max_opening_rest_ticks=limit))
        strikes = [e.tick for e in answer if e.velocity]
        assert strikes and strikes[0] - 48 <= limit
        assert_well_formed(answer, 48, 144)


def test_the_shipped_model_answers_a_soft_call_softly():
    """The events models carry velocity bins: what the call's dynamics are, the answer's
    follow (with the model that plays by default, not a toy that learnt no dynamics)."""
    from antiphon.exported_models import default_model_path

    phrase = [(60, 12), (62, 12), (64, 12), (65, 12), (67, 24), (64, 12), (62, 12)]
    loudness = {}
    for velocity in (30, 110):
        strikes = []
        for seed in range(3):
            session = open_session(default_model_path(), device="cpu", seed=seed)
            tick, call = 0, []
            for pitch, ticks in phrase:
                call += [NoteEvent(tick, pitch, velocity), NoteEvent(tick + ticks - 2, pitch, 0)]
                tick += ticks
            session.observe(call)
            strikes += [e.velocity for e in session.generate(tick + 24, 8 * 24) if e.velocity]
        loudness[velocity] = sum(strikes) / len(strikes)
    assert loudness[30] < 45 and loudness[110] > 95, loudness
