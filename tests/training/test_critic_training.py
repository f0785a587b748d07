"""The answer critic's training side: a tiny critic learns from hand-made pairs, exports
to ONNX that scores as torch does through the runtime scorer, and the pieces of its data
(other-tune answers, transposition) do what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from antiphon.engine.critic import NOTE_ON_BASE, SEP, Critic, encode_pair, pad_batch
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.training.evaluation.critic_examples import (
    OTHER,
    REAL,
    SAMPLED,
    held_out_figures,
    make_examples,
    transpose_tokens,
)
from antiphon.training.evaluation.critic_export import export_critic
from antiphon.training.evaluation.critic_pairs import PairSet, events_array, other_tune_answer
from antiphon.training.evaluation.critic_train import (
    CriticTrainConfig,
    batches,
    critic_loss,
    fit,
    torch_scorer,
)
from antiphon.training.families.critic import CriticConfig, CriticModel, reverse_padded

BEAT = TICKS_PER_BEAT
BAR = 4 * BEAT


def melody(pitches, start=0, beat=BEAT):
    events = []
    for index, pitch in enumerate(pitches):
        events += [NoteEvent(start + index * beat, pitch, 80),
                   NoteEvent(start + (index + 1) * beat, pitch, 0)]
    return events


def hand_made_pairs(count: int = 12) -> PairSet:
    """Calls that climb a scale from different tonics; the real continuation walks the
    scale on (each tune in its own order), the 'sampled' one jumps about in quarter-beats,
    far from the call."""
    rng = np.random.default_rng(0)
    calls, reals, sampled = [], [], []
    for index in range(count):
        tonic = 55 + index
        calls.append(events_array(melody([tonic + s for s in (0, 2, 4, 5, 7, 9, 11, 12)])))
        steps = np.roll([0, 1, 3, 5, 7, 8, 10, 12], index)  # each tune's own turn
        reals.append(events_array(melody([tonic + 12 - int(s) for s in steps], 2 * BAR)))
        jumps = (tonic + rng.integers(-30, 30, 16)).tolist()
        sampled.append(events_array(melody(jumps, 2 * BAR, BEAT // 4)))
    return PairSet("hand-made", [f"t{i}" for i in range(count)], calls, reals, sampled,
                   np.full(count, 2 * BAR), np.full(count, 4 * BAR))


TINY = CriticConfig(embedding=8, hidden=8, head=8, dropout=0.0)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train several times faster on one thread than on cores shared with
    other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_reverse_padded_reverses_only_the_real_tokens():
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    reversed_ = reverse_padded(tokens, torch.tensor([3, 2]))
    assert reversed_.tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


def test_padding_does_not_change_a_score():
    model = CriticModel(TINY).eval()
    sequence = [NOTE_ON_BASE + 60, SEP, NOTE_ON_BASE + 62]
    alone = model(*map(torch.from_numpy, pad_batch([sequence])))
    padded = model(*map(torch.from_numpy, pad_batch([sequence, sequence * 5])))
    assert torch.allclose(alone[0], padded[0], atol=1e-6)


def test_a_tiny_critic_learns_hand_made_pairs():
    torch.manual_seed(0)
    pairs = hand_made_pairs()
    model = CriticModel(TINY)
    examples = make_examples(pairs, np.random.default_rng(0), kinds=(REAL, SAMPLED))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    rng = np.random.default_rng(0)

    def loss_now() -> float:
        model.eval()
        with torch.no_grad():
            return float(sum(critic_loss(model(t, n), y, real)
                             for t, n, y, real in batches(examples, 64, rng, None)))

    before = loss_now()
    model.train()
    for _ in range(40):
        for tokens, lengths, labels, real in batches(examples, 12, rng, (-2, 2)):
            loss = critic_loss(model(tokens, lengths), labels, real)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    after = loss_now()
    assert after < 0.5 * before
    figures = held_out_figures(torch_scorer(model), [pairs])
    assert figures["hand-made"]["real_vs_sampled"] == 1.0


def test_fit_stops_early_and_keeps_the_best_weights(tmp_path):
    pairs = hand_made_pairs(8)
    model = CriticModel(TINY)
    record = fit(model, [pairs], [pairs], CriticTrainConfig(epochs=3, batch_size=8, lr=0.01),
                 tmp_path / "best.pt")
    assert (tmp_path / "best.pt").is_file()
    best = min(row["valid_loss"] for row in record["history"])
    assert record["best_valid_loss"] == best


def test_export_scores_as_torch_through_the_runtime_critic(tmp_path):
    torch.manual_seed(1)
    model = CriticModel(CriticConfig(embedding=8, hidden=12, head=8)).eval()
    path = tmp_path / "critic.onnx"
    worst = export_critic(model, path, "tiny", "a test critic", {"epochs": 0}, {})
    assert worst <= 1e-4
    critic = Critic.load(path)
    call = melody([60, 62, 64, 65, 67])
    answers = [melody([67, 65, 64], 5 * BEAT), melody([40, 90], 5 * BEAT, BEAT // 3), []]
    sequences = [encode_pair(call, answer, 5 * BEAT) for answer in answers]
    with torch.no_grad():
        expected = model(*map(torch.from_numpy, pad_batch(sequences))).numpy()
    np.testing.assert_allclose(critic.score(call, answers, 5 * BEAT), expected, atol=1e-4)
    assert critic.info.name == "tiny" and critic.info.training == {"epochs": 0}


def test_another_tunes_answer_moves_into_the_calls_time_and_range():
    pairs = hand_made_pairs(3)
    pairs.reals[2] = events_array(melody([80, 82, 84, 86, 88, 90], 3 * BAR, BEAT))
    pairs.starts[2], pairs.ends[2] = 3 * BAR, 5 * BAR
    pairs.ends[0] = 2 * BAR + 3 * BEAT  # a shorter answer: what lasts longer is cut
    moved = other_tune_answer(pairs, 0, 2)
    assert moved[:, 0].min() == 2 * BAR and moved[:, 0].max() <= 2 * BAR + 3 * BEAT
    assert (moved[:, 2] > 0).sum() == (moved[:, 2] == 0).sum() == 3  # each strike released
    # Transposed by the gap between the medians: the call's 61, the source's 85.
    assert moved[moved[:, 2] > 0, 1].tolist() == [80 - 24, 82 - 24, 84 - 24]


def test_other_tune_examples_never_use_the_calls_own_continuation():
    pairs = hand_made_pairs(5)
    examples = make_examples(pairs, np.random.default_rng(3), kinds=(REAL, OTHER))
    for index in range(len(pairs)):
        real, other = [t for t, i in zip(examples.tokens, examples.pair_index, strict=True)
                       if i == index]
        assert not np.array_equal(real, other)


def test_transposition_moves_every_note_or_none():
    tokens = np.array(encode_pair(melody([60, 64]), melody([67], 2 * BEAT), 2 * BEAT))
    up = transpose_tokens(tokens, 3)
    notes = (tokens >= NOTE_ON_BASE) & (tokens < NOTE_ON_BASE + 256)
    assert np.array_equal(up[notes] - tokens[notes], np.full(notes.sum(), 3))
    assert np.array_equal(up[~notes], tokens[~notes])
    assert np.array_equal(transpose_tokens(tokens, 70), tokens)  # 67 + 70 > 127


def test_a_batch_holds_whole_calls_and_points_each_answer_at_its_real_one():
    examples = make_examples(hand_made_pairs(6), np.random.default_rng(0))
    rng = np.random.default_rng(0)
    seen = 0
    for tokens, _lengths, labels, real in batches(examples, 4, rng, (-3, 3)):
        assert len(labels) % 3 == 0 and labels.sum() == len(labels) // 3
        assert torch.all(labels[real] == 1.0)  # every example's real one is a real one
        for row, position in enumerate(real.tolist()):  # and shares its call
            call = tokens[row, : list(tokens[row]).index(SEP)]
            assert torch.equal(call, tokens[position, : len(call)])
        seen += len(labels)
    assert seen == len(examples)


def test_the_ranking_term_punishes_a_fake_above_its_real_one():
    labels = torch.tensor([1.0, 0.0, 0.0])
    real = torch.tensor([0, 0, 0])
    right = critic_loss(torch.tensor([2.0, -1.0, -1.0]), labels, real)
    wrong = critic_loss(torch.tensor([-1.0, 2.0, -1.0]), labels, real)
    assert wrong > right + 1.0


def test_examples_are_labelled_by_kind():
    examples = make_examples(hand_made_pairs(4), np.random.default_rng(0),
                             (REAL, SAMPLED, OTHER))
    assert len(examples) == 12
    assert [label for label, kind in zip(examples.labels, examples.kinds, strict=True)
            if kind == REAL] == [1.0] * 4
    assert examples.labels.sum() == 4
