"""A model file loads with its card, and steps alike on the plain and the bound path (a
file that cannot be used: test_bad_model_files.py)."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.engine.card import ModelCard
from antiphon.engine.model import StepModel, providers_for
from antiphon.engine.session import Engine


def test_card_is_read_from_the_file(tiny_model_path):
    model = StepModel(tiny_model_path)
    card = model.card
    assert card.name == "tiny" and card.family == "lstm" and card.representation == "events"
    assert [s.input for s in card.state] == ["h_in", "c_in"]
    assert card.state[0].shape == (1, 1, 48)
    assert card.vocab_size == len(card.vocabulary) == Engine(model).codec.vocab_size
    assert "valid_nll_per_token" in card.metrics
    assert ModelCard.from_json(card.to_json()) == card


def test_device_choice():
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="device must be"):
        providers_for("tpu")


def test_io_binding_steps_like_the_plain_path(tiny_model_path):
    """The bound path (what runs on CUDA) gives the same samples, logits and state as the
    plain one, here on the CPU; and an old state stays valid after later steps."""
    plain = StepModel(tiny_model_path, device="cpu")
    bound = StepModel(tiny_model_path, device="cpu", io_binding=True)
    assert bound.io_binding and not plain.io_binding
    vocab = plain.card.vocab_size
    bias = np.zeros(vocab, np.float32)
    rng = np.random.default_rng(3)
    plain_state, bound_state = plain.initial_state(), bound.initial_state()
    token = 0
    kept = None
    for step in range(40):
        uniform = rng.random((1, vocab), dtype=np.float32)
        a, a_logits, plain_state = plain.step(token, plain_state, 0.9, uniform, bias, 0.8)
        b, b_logits, bound_state = bound.step(token, bound_state, 0.9, uniform, bias, 0.8)
        assert a == b
        np.testing.assert_allclose(a_logits, b_logits, atol=1e-6)
        if step == 10:
            kept = ([s.copy() for s in plain_state], bound_state)
        token = a
    for old_plain, old_bound in zip(*kept, strict=True):
        np.testing.assert_allclose(old_bound.numpy(), old_plain, atol=1e-6)


def test_a_bound_session_plays_the_same_answer(tiny_model_path):
    from antiphon.engine.events import NoteEvent

    answers = []
    for io_binding in (False, True):
        session = Engine(StepModel(tiny_model_path, device="cpu",
                                   io_binding=io_binding)).new_session(seed=5)
        session.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)])
        answers.append(list(session.generate(24, 24 * 4)))
    assert answers[0] and answers[0] == answers[1]
