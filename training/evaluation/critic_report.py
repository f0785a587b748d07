"""The figures of `antiphon eval critic`: a critic file measured through the runtime
scorer (engine/critic.py) on the test split's calls (critic_pairs.py), and the time it
takes to score 8 answers to one call.
"""

from __future__ import annotations

import time

import numpy as np

from antiphon.engine.critic import Critic, pad_batch
from antiphon.training.evaluation.critic_examples import held_out_figures, other_tunes
from antiphon.training.evaluation.critic_pairs import (
    COLLECTIONS,
    PairSet,
    Sampler,
    load_pairs,
    other_tune_answer,
    to_events,
)

ANSWERS_PER_CALL = 8
TIMED_CALLS = 200  # scorings timed per collection


def onnx_scorer(critic: Critic):
    def score(sequences: list[np.ndarray]) -> np.ndarray:
        return critic._run(*pad_batch(sequences))
    return score


def scoring_times(critic: Critic, pairs: PairSet, calls: int = TIMED_CALLS,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per `Critic.score` of 8 answers to one call (the real continuation, the
    sampled answer and 6 other tunes' continuations), encoding included, for `calls`
    calls one after another (round the split again where it has fewer); and the tokens
    per scored sequence."""
    rng = np.random.default_rng(seed)
    seconds, tokens = [], []
    for number in range(calls if len(pairs) else 0):
        index = number % len(pairs)
        others = [other_tunes(pairs, rng)[index] for _ in range(ANSWERS_PER_CALL - 2)]
        answers = [pairs.reals[index], pairs.sampled[index],
                   *(other_tune_answer(pairs, index, int(o)) for o in others)]
        call, start = to_events(pairs.calls[index]), int(pairs.starts[index])
        answer_events = [to_events(a) for a in answers]
        started = time.perf_counter()
        critic.score(call, answer_events, start)
        seconds.append(time.perf_counter() - started)
        tokens += [len(critic.tokens(call, a, start)) for a in answer_events]
    return np.array(seconds), np.array(tokens)


def critic_report(critic: Critic, sampler: Sampler | None, limit: int | None = None,
                  workers: int | None = None,
                  collections: tuple[str, ...] = COLLECTIONS) -> str:
    """Held-out figures (markdown table) and scoring times, as text; test pairs not yet
    cached are sampled with `sampler`."""
    from antiphon.training.evaluation.critic_train import figures_table

    test = [load_pairs(name, "test", sampler, limit=limit, workers=workers)
            for name in collections]
    lines = [f"critic {critic.path}: test split, calls of {len(collections)} collections",
             figures_table(held_out_figures(onnx_scorer(critic), test)), ""]
    critic.score(to_events(test[0].calls[0]), [to_events(test[0].reals[0])],
                 int(test[0].starts[0]))  # the first run allocates; it is not timed
    for pairs in test:
        seconds, tokens = scoring_times(critic, pairs)
        if len(seconds) == 0:
            continue
        p50, p99 = np.percentile(seconds * 1e3, [50, 99])
        lines.append(f"{pairs.name}: scoring {ANSWERS_PER_CALL} answers to a call "
                     f"({np.median(tokens):.0f} tokens each, median; at most "
                     f"{tokens.max()}): p50 {p50:.2f} ms, p99 {p99:.2f} ms over "
                     f"{len(seconds)} scorings, one thread")
    return "\n".join(lines)
