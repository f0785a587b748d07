"""Count baselines for token models: unigram and bigram NLL per token.

They fix the floor a neural model must clear by a clear margin before it can be said to
have learned anything. Both are scored exactly like the models: every token after a
piece's BOS is predicted, and the figure is the mean negative log-likelihood in nats.
"""

from __future__ import annotations

import numpy as np

from antiphon.training.token_data import TokenSplit


def _targets(split: TokenSplit) -> tuple[np.ndarray, np.ndarray]:
    """(previous token, token) pairs for every predicted position of every piece."""
    is_first = np.zeros(len(split.tokens), dtype=bool)
    is_first[split.starts[:-1]] = True  # a piece's BOS is given, not predicted
    positions = np.flatnonzero(~is_first)
    return split.tokens[positions - 1].astype(np.int64), split.tokens[positions].astype(np.int64)


def unigram_nll(train: TokenSplit, test: TokenSplit, vocab: int, alpha: float = 0.5) -> float:
    """Add-alpha smoothed token frequencies."""
    _, train_next = _targets(train)
    counts = np.bincount(train_next, minlength=vocab) + alpha
    log_p = np.log(counts / counts.sum())
    _, test_next = _targets(test)
    return float(-log_p[test_next].mean())


def bigram_nll(
    train: TokenSplit, test: TokenSplit, vocab: int, alpha: float = 0.1, mix: float = 0.9
) -> float:
    """Add-alpha bigrams, interpolated with the unigram so unseen pairs keep some mass."""
    prev, nxt = _targets(train)
    pair_counts = np.zeros((vocab, vocab))
    np.add.at(pair_counts, (prev, nxt), 1.0)
    pair_counts += alpha
    bigram = pair_counts / pair_counts.sum(axis=1, keepdims=True)
    unigram_counts = np.bincount(nxt, minlength=vocab) + alpha
    unigram = unigram_counts / unigram_counts.sum()
    test_prev, test_next = _targets(test)
    p = mix * bigram[test_prev, test_next] + (1.0 - mix) * unigram[test_next]
    return float(-np.log(p).mean())
