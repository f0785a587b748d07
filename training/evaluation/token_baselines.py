"""Count baselines for token models: unigram and bigram NLL per token.

They fix the floor a neural model must clear by a clear margin before it can be said to
have learned anything. Both are scored exactly like the models: every token after a
piece's BOS is predicted, and the figure is the mean negative log-likelihood in nats.
"""

from __future__ import annotations

import numpy as np

from antiphon.training.data.tokens import TokenSplit

BLOCK_TOKENS = 1 << 22  # tokens counted at a time: a memory-mapped split is never loaded whole


def _target_blocks(split: TokenSplit):
    """(previous token, token) pairs for every predicted position of every piece, in
    blocks; a piece's BOS is given, not predicted."""
    starts = np.asarray(split.starts)
    for first in range(0, len(split.tokens), BLOCK_TOKENS):
        positions = np.arange(max(first, 1), min(first + BLOCK_TOKENS, len(split.tokens)))
        is_first = starts[np.searchsorted(starts, positions).clip(max=len(starts) - 1)] == positions
        positions = positions[~is_first]
        yield (np.asarray(split.tokens[positions - 1], dtype=np.int64),
               np.asarray(split.tokens[positions], dtype=np.int64))


def _counts(split: TokenSplit, vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """Token counts [V] and pair counts [V, V] of the predicted positions."""
    unigrams, pairs = np.zeros(vocab), np.zeros((vocab, vocab))
    for prev, nxt in _target_blocks(split):
        unigrams += np.bincount(nxt, minlength=vocab)
        pairs += np.bincount(prev * vocab + nxt, minlength=vocab * vocab).reshape(vocab, vocab)
    return unigrams, pairs


def _mean_nll(split: TokenSplit, log_p) -> float:
    total, count = 0.0, 0
    for prev, nxt in _target_blocks(split):
        total += float(-log_p(prev, nxt).sum())
        count += len(nxt)
    return total / count


def unigram_nll(train: TokenSplit, test: TokenSplit, vocab: int, alpha: float = 0.5) -> float:
    """Add-alpha smoothed token frequencies."""
    counts = _counts(train, vocab)[0] + alpha
    log_p = np.log(counts / counts.sum())
    return _mean_nll(test, lambda prev, nxt: log_p[nxt])


def bigram_nll(
    train: TokenSplit, test: TokenSplit, vocab: int, alpha: float = 0.1, mix: float = 0.9
) -> float:
    """Add-alpha bigrams, interpolated with the unigram so unseen pairs keep some mass."""
    unigram_counts, pair_counts = _counts(train, vocab)
    pair_counts += alpha
    bigram = pair_counts / pair_counts.sum(axis=1, keepdims=True)
    unigram_counts += alpha
    unigram = unigram_counts / unigram_counts.sum()
    return _mean_nll(test, lambda prev, nxt: np.log(
        mix * bigram[prev, nxt] + (1.0 - mix) * unigram[nxt]))
