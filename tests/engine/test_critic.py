"""The runtime answer critic (engine/critic.py) on the shipped exported_models/critic.onnx:
its encoding, determinism, batching, shapes, token caps, and the one-line error for a
file that is not a usable critic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from antiphon.engine.card import ModelLoadError
from antiphon.engine.critic import (
    CRITIC_METADATA_KEY,
    MAX_ANSWER_TOKENS,
    MAX_CALL_TOKENS,
    NOTE_OFF_BASE,
    NOTE_ON_BASE,
    SEP,
    SHIFT_BASE,
    Critic,
    encode_pair,
)
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent

MODELS = Path(__file__).resolve().parents[2] / "exported_models"
SHIPPED = MODELS / "critic.onnx"
BEAT = TICKS_PER_BEAT


def melody(pitches, start=0, beat=BEAT, velocity=80):
    events = []
    for index, pitch in enumerate(pitches):
        events += [NoteEvent(start + index * beat, pitch, velocity),
                   NoteEvent(start + (index + 1) * beat, pitch, 0)]
    return events


CALL = melody([60, 62, 64, 65, 67, 65, 64, 62])
START = 8 * BEAT
ANSWERS = [melody([60, 64, 67, 72], START), melody([61, 66, 70, 59, 63], START, BEAT // 2),
           melody([67, 65, 64, 62, 60, 60, 60, 60], START), melody([48], START, 4 * BEAT)]


@pytest.fixture(scope="module")
def critic() -> Critic:
    return Critic.load(SHIPPED)


def test_encoding_is_call_sep_answer_with_time_from_each_start():
    tokens = encode_pair(melody([60, 62]), melody([64], start=3 * BEAT), 3 * BEAT)
    assert tokens == [NOTE_ON_BASE + 60, SHIFT_BASE + BEAT - 1, NOTE_OFF_BASE + 60,
                      NOTE_ON_BASE + 62, SHIFT_BASE + BEAT - 1, NOTE_OFF_BASE + 62,
                      SHIFT_BASE + BEAT - 1,  # the beat of rest before the answer
                      SEP, NOTE_ON_BASE + 64, SHIFT_BASE + BEAT - 1, NOTE_OFF_BASE + 64]


def test_velocity_and_the_order_of_simultaneous_events_do_not_count(critic):
    loud = [NoteEvent(e.tick, e.pitch, 120 if e.velocity else 0) for e in ANSWERS[0]]
    reordered = sorted(ANSWERS[0], key=lambda e: (e.tick, -e.velocity, -e.pitch))
    scores = critic.score(CALL, [ANSWERS[0], loud, reordered], START)
    assert scores[0] == scores[1] == scores[2]


def test_scores_are_one_finite_float_per_answer(critic):
    scores = critic.score(CALL, ANSWERS, START)
    assert scores.shape == (len(ANSWERS),) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores))
    assert critic.score(CALL, [], START).shape == (0,)
    assert critic.score([], [[]], 0).shape == (1,)  # nothing heard, nothing answered


def test_scoring_is_deterministic(critic):
    first = critic.score(CALL, ANSWERS, START)
    again = Critic.load(SHIPPED).score(CALL, ANSWERS, START)
    assert np.array_equal(first, critic.score(CALL, ANSWERS, START))
    assert np.array_equal(first, again)


def test_a_batch_scores_as_its_answers_one_by_one(critic):
    together = critic.score(CALL, ANSWERS, START)
    alone = np.array([critic.score(CALL, [answer], START)[0] for answer in ANSWERS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # And the answers differ to the critic: a constant scorer would pass the line above.
    assert np.ptp(together) > 1e-4


def test_tokens_are_capped_and_only_the_call_end_and_answer_start_count(critic):
    long_call = melody([60 + i % 12 for i in range(400)], beat=BEAT // 4)
    start = 100 * BEAT
    long_answer = melody([50 + i % 7 for i in range(400)], start, BEAT // 4)
    tokens = critic.tokens(long_call, long_answer, start)
    assert len(tokens) == MAX_CALL_TOKENS + 1 + MAX_ANSWER_TOKENS
    assert tokens[MAX_CALL_TOKENS] == SEP
    # Another opening of the call and another ending of the answer, beyond the caps:
    changed_call = melody([90] * 50, beat=BEAT // 4) + long_call[100:]
    changed_answer = long_answer[:700] + melody([30] * 30, long_answer[699].tick, BEAT // 4)
    scores = critic.score(long_call, [long_answer], start)
    np.testing.assert_allclose(critic.score(changed_call, [changed_answer], start), scores,
                               atol=1e-6)


def test_a_missing_file_is_one_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        Critic.load(tmp_path / "absent.onnx")
    with pytest.raises(ModelLoadError, match="not a file"):
        Critic.load(tmp_path)


def test_a_corrupt_file_is_one_load_error(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(SHIPPED.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="cannot read it") as caught:
        Critic.load(broken)
    assert "\n" not in str(caught.value)


def test_a_step_model_is_not_a_critic():
    with pytest.raises(ModelLoadError, match="critic graph takes"):
        Critic.load(MODELS / "default.onnx")


def test_a_critic_without_its_metadata_or_with_a_foreign_encoding_is_refused(tmp_path):
    proto = onnx.load(str(SHIPPED))
    entries = list(proto.metadata_props)
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(ModelLoadError, match=CRITIC_METADATA_KEY):
        Critic.load(bare)
    for entry in entries:
        added = proto.metadata_props.add()
        added.key = entry.key
        added.value = entry.value.replace('"encoding_version": 1', '"encoding_version": 9')
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, str(foreign))
    with pytest.raises(ModelLoadError, match="encoding version 9"):
        Critic.load(foreign)
