"""Labelled token sequences for the answer critic, from cached pairs (critic_pairs.py),
and the held-out figures a critic is judged by.

Each call gives three examples: its real continuation (label 1), the model's sampled
answer (0) and another tune's continuation moved into its time and range (0). The other
tune is drawn among the pairs whose answers last as long (the same metre, mostly), so the
critic cannot tell it by its length. Training transposes call and answer together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from antiphon.engine.critic import NOTE_OFF_BASE, NOTE_ON_BASE, SHIFT_BASE, encode_pair
from antiphon.training.evaluation.critic_pairs import PairSet, other_tune_answer, to_events

REAL, SAMPLED, OTHER = "real", "sampled", "other"
KINDS = (REAL, SAMPLED, OTHER)


@dataclass
class Examples:
    """Token sequences with their labels (1 real, 0 not), kinds and pair numbers."""

    tokens: list[np.ndarray]
    labels: np.ndarray  # float32
    kinds: list[str]
    pair_index: np.ndarray  # which pair (within its PairSet) each came from

    def __len__(self) -> int:
        return len(self.tokens)


def other_tunes(pairs: PairSet, rng: np.random.Generator) -> np.ndarray:
    """For each pair, another pair whose answer lasts as long where there is one (any other
    pair otherwise); never the pair itself."""
    lengths = pairs.ends - pairs.starts
    chosen = np.zeros(len(pairs), np.int64)
    for index in range(len(pairs)):
        same = np.flatnonzero(lengths == lengths[index])
        pool = same[same != index]
        if len(pool) == 0:
            pool = np.delete(np.arange(len(pairs)), index)
        chosen[index] = rng.choice(pool) if len(pool) else index
    return chosen


def encode(pairs: PairSet, index: int, answer: np.ndarray) -> np.ndarray:
    return np.array(encode_pair(to_events(pairs.calls[index]), to_events(answer),
                                int(pairs.starts[index])), np.int64)


def make_examples(pairs: PairSet, rng: np.random.Generator,
                  kinds: Sequence[str] = KINDS) -> Examples:
    """Every pair's examples of the given kinds, untransposed."""
    others = other_tunes(pairs, rng) if OTHER in kinds else None
    tokens, labels, made_kinds, index_of = [], [], [], []
    for index in range(len(pairs)):
        for kind in kinds:
            if kind == REAL:
                answer = pairs.reals[index]
            elif kind == SAMPLED:
                answer = pairs.sampled[index]
            else:
                if others[index] == index:
                    continue
                answer = other_tune_answer(pairs, index, int(others[index]))
            tokens.append(encode(pairs, index, answer))
            labels.append(1.0 if kind == REAL else 0.0)
            made_kinds.append(kind)
            index_of.append(index)
    return Examples(tokens, np.array(labels, np.float32), made_kinds,
                    np.array(index_of, np.int64))


def transpose_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """Every pitch moved by `semitones`; unchanged if that would leave 0..127."""
    notes = (tokens >= NOTE_ON_BASE) & (tokens < SHIFT_BASE)
    if semitones == 0 or not notes.any():
        return tokens
    pitches = np.where(tokens[notes] >= NOTE_OFF_BASE, tokens[notes] - NOTE_OFF_BASE,
                       tokens[notes] - NOTE_ON_BASE)
    if pitches.min() + semitones < 0 or pitches.max() + semitones > 127:
        return tokens
    moved = tokens.copy()
    moved[notes] += semitones
    return moved


ScoreFunction = Callable[[list[np.ndarray]], np.ndarray]


def held_out_figures(score: ScoreFunction, pair_sets: Sequence[PairSet],
                     seed: int = 0) -> dict[str, dict[str, float]]:
    """Per collection and over all: how often the real continuation scores above the
    sampled answer to the same call (`real_vs_sampled`) and above another tune's
    (`real_vs_other`), and the accuracy of the sign of the logit on the balanced sets
    (`accuracy_sampled`: real and sampled answers; `accuracy_other`: real and other)."""
    rng = np.random.default_rng(seed)
    figures: dict[str, dict[str, float]] = {}
    totals: dict[str, list[np.ndarray]] = {}
    for pairs in pair_sets:
        examples = make_examples(pairs, rng)
        scores = np.concatenate([score(examples.tokens[i: i + 64])
                                 for i in range(0, len(examples), 64)])
        by_kind = {kind: np.full(len(pairs), np.nan) for kind in KINDS}
        for value, kind, index in zip(scores, examples.kinds, examples.pair_index, strict=True):
            by_kind[kind][index] = value
        figures[pairs.name] = _figures(by_kind)
        for kind in KINDS:
            totals.setdefault(kind, []).append(by_kind[kind])
    figures["all"] = _figures({kind: np.concatenate(v) for kind, v in totals.items()})
    return figures


def _figures(by_kind: dict[str, np.ndarray]) -> dict[str, float]:
    real = by_kind[REAL]
    result: dict[str, float] = {"pairs": float(len(real))}
    for kind in (SAMPLED, OTHER):
        fake = by_kind[kind]
        kept = ~np.isnan(fake)
        result[f"real_vs_{kind}"] = float(np.mean(real[kept] > fake[kept]))
        right = np.concatenate([real[kept] > 0, fake[kept] <= 0])
        result[f"accuracy_{kind}"] = float(np.mean(right))
    return result
