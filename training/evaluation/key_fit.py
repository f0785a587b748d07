"""Fit the key finder's weights (engine/key_weights.py) and its declaring threshold.

    python -m antiphon.training.evaluation.key_fit [--corpus essenFolksong --corpus
        oneills1850] [--out engine/key_weights.py]

The model scores each of the 24 keys by the same function of that key's features
(key_finding.key_features, read from the key's tonic up), so it is the same in every
transposition: a linear part plus a small network (one hidden tanh layer of HIDDEN
units), and a softmax over the keys. It is fitted (Adam, cross-entropy, torch) on one- to
four-bar calls of the training split, with the tune's key (key_calls.tune_key) as the
truth; the forward pass at run time is numpy (key_finding.key_scores).

The threshold DECLARE_AT is the lowest probability at which the declared two-bar calls of
the validation split (at least MIN_DECLARED of them) are right TARGET_PRECISION of the
time, by the lower end of the precision's 95 % interval: a safety margin, so that calls
never seen are right that often too. Where no probability gets there, it is NEVER, and
every answer leans instead of being masked. The test split (`antiphon eval-keys`) checks.
"""

from __future__ import annotations

import argparse
import base64
import logging
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.engine.key_finding import (
    FEATURES,
    KEYS,
    key_features,
    may_declare,
    pitch_class_weights,
    scale_fit,
)
from antiphon.training.evaluation.key_calls import DEFAULT_BARS, Tune, load_tunes

logger = logging.getLogger(__name__)

FIT_BARS = (1, 2, 3, 4)  # call lengths the weights are fitted on
HIDDEN = 16  # units of the network's hidden layer
EPOCHS = 30
BATCH = 256
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-3  # on every weight, by Adam
TARGET_PRECISION = 0.90  # asked of held-out calls
MIN_DECLARED = 40  # a precision over fewer validation calls says little
Z = 1.96  # the declared calls' precision is judged by its 95 % interval's lower end
NEVER = 1.01  # a threshold no probability reaches: nothing is declared
DEFAULT_FIT_CORPORA = ("essenFolksong", "oneills1850")


@dataclass(frozen=True)
class FinderWeights:
    linear: np.ndarray  # [FEATURES]
    hidden: np.ndarray  # [FEATURES, HIDDEN]
    hidden_bias: np.ndarray  # [HIDDEN]
    output: np.ndarray  # [HIDDEN]


def key_index(tune: Tune) -> int:
    truth = tune.key()
    return KEYS.index((truth.tonic, truth.mode))


def design(tunes: Sequence[Tune], bars: Sequence[int]) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """(features [N, 24, F], truth [N], pitch-class durations [N, 12]) of the tunes' calls."""
    rows, truths, weights = [], [], []
    for tune in tunes:
        for count in bars:
            call = tune.call(count)
            features = key_features(call)
            if features is None:
                continue
            rows.append(features)
            truths.append(key_index(tune))
            weights.append(pitch_class_weights(call))
    return (np.array(rows, np.float32).reshape(-1, 24, FEATURES),
            np.array(truths, np.int64), np.array(weights).reshape(-1, 12))


def declarable(weights: np.ndarray, best: np.ndarray) -> np.ndarray:
    """bool [N]: the calls key_finding.find_key may declare in their best key at all."""
    return np.array([may_declare(w, scale_fit(w, *KEYS[k])[0])
                     for w, k in zip(weights, best, strict=True)], bool)


def fit_weights(features: np.ndarray, truth: np.ndarray, hidden: int = HIDDEN,
                epochs: int = EPOCHS, seed: int = 0) -> FinderWeights:
    """Fit the finder's linear part and its network together (Adam on the cross-entropy of
    the 24 keys' softmax), each key scored by the same function of its own features."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    count = features.shape[2]
    linear = torch.nn.Linear(count, 1, bias=False)
    network = torch.nn.Sequential(torch.nn.Linear(count, hidden), torch.nn.Tanh(),
                                  torch.nn.Linear(hidden, 1, bias=False))
    parameters = [*linear.parameters(), *network.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    inputs = torch.from_numpy(features.astype(np.float32))
    targets = torch.from_numpy(truth)
    for epoch in range(epochs):
        order = torch.randperm(len(targets), generator=generator)
        total = 0.0
        for batch in order.split(BATCH):
            scores = (linear(inputs[batch]) + network(inputs[batch])).squeeze(-1)
            loss = torch.nn.functional.cross_entropy(scores, targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        logger.info("epoch %d: loss %.4f", epoch + 1, total / len(targets))
    as_array = lambda tensor: tensor.detach().numpy().astype(np.float64)  # noqa: E731
    return FinderWeights(as_array(linear.weight[0]), as_array(network[0].weight.T),
                         as_array(network[0].bias), as_array(network[2].weight[0]))


def posteriors(features: np.ndarray, weights: FinderWeights) -> np.ndarray:
    """float [N, 24]: the keys' probabilities, by key_finding's forward pass."""
    hidden = np.tanh(features @ weights.hidden + weights.hidden_bias)
    scores = features @ weights.linear + hidden @ weights.output
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


def lower_bound(right: int, total: int, z: float = Z) -> float:
    """The Wilson score interval's lower end for a precision of right / total."""
    if total == 0:
        return 0.0
    share = right / total
    centre = share + z * z / (2 * total)
    spread = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return float((centre - spread) / (1 + z * z / total))


def threshold(probability: np.ndarray, right: np.ndarray, target: float,
              least: int = MIN_DECLARED) -> float:
    """The lowest probability whose declared calls (p >= it, at least `least` of them) are
    right `target` of the time, by the lower end of the precision's 95 % interval (so a
    lucky run of validation calls does not set it); NEVER when no such probability exists."""
    order = np.argsort(-probability, kind="stable")
    hits = np.cumsum(right[order])
    good = [k for k in range(least - 1, len(order))
            if lower_bound(int(hits[k]), k + 1) >= target]
    if not good:
        return NEVER
    return float(probability[order][good[-1]])


def write_weights(path: Path, weights: FinderWeights, declare_at: float, note: str) -> None:
    def packed(values: np.ndarray) -> str:
        text = base64.b64encode(values.astype("<f4").tobytes()).decode()
        return "\n".join(f'    "{text[i:i + 80]}"' for i in range(0, len(text), 80))

    path.write_text(f'''"""The key finder's fitted weights (key_finding.py says what they weigh).

Generated by `python -m antiphon.training.evaluation.key_fit`; do not edit by hand.
{textwrap.fill(note, 88)}
"""

import base64

import numpy as np


def _floats(text: str, *shape: int) -> np.ndarray:
    """float32 numbers, little-endian, base64: exact and compact."""
    return np.frombuffer(base64.b64decode(text), "<f4").astype(float).reshape(shape)


FEATURES, HIDDEN = {weights.hidden.shape[0]}, {weights.hidden.shape[1]}
# Shared by all keys: a key's score is features @ WEIGHTS
# + tanh(features @ HIDDEN_WEIGHTS + HIDDEN_BIAS) @ OUTPUT_WEIGHTS.
WEIGHTS = _floats(
{packed(weights.linear)}, FEATURES)
HIDDEN_WEIGHTS = _floats(
{packed(weights.hidden)}, FEATURES, HIDDEN)
HIDDEN_BIAS = _floats(
{packed(weights.hidden_bias)}, HIDDEN)
OUTPUT_WEIGHTS = _floats(
{packed(weights.output)}, HIDDEN)
# A key is declared (the answer masked to its scale) at this probability or more.
DECLARE_AT = {declare_at:.4f}
''')


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", help="music21 collection (repeatable)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[2] / "engine" / "key_weights.py")
    parser.add_argument("--limit", type=int, default=None, help="tunes per split (quick try)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    corpora = args.corpus or list(DEFAULT_FIT_CORPORA)
    train = [t for name in corpora for t in load_tunes(name, "train", args.limit,
                                                         workers=args.workers)]
    valid = [t for name in corpora for t in load_tunes(name, "valid", args.limit,
                                                         workers=args.workers)]
    features, truth, _ = design(train, FIT_BARS)
    weights = fit_weights(features, truth, epochs=args.epochs, seed=args.seed)
    valid_features, valid_truth, valid_weights = design(valid, (DEFAULT_BARS,))
    probability = posteriors(valid_features, weights)
    best = probability.argmax(axis=1)
    right = (best == valid_truth).astype(float)
    top = probability.max(axis=1)
    top = np.where(declarable(valid_weights, best), top, 0.0)  # never declared
    declare_at = max(threshold(top, right, TARGET_PRECISION), 1e-4)
    declared = top >= declare_at
    order = np.argsort(-top, kind="stable")
    third = right[order][:max(1, len(order) // 3)].mean()
    best_bound = max(lower_bound(int(right[order][:k].sum()), k)
                     for k in range(MIN_DECLARED, len(order) + 1))
    summary = (f"Fitted on {len(truth)} calls ({', '.join(map(str, FIT_BARS))} bars) of "
               f"{len(train)} training tunes of {', '.join(corpora)}; on {len(valid_truth)} "
               f"two-bar validation calls: {right.mean():.1%} exact, {declared.mean():.1%} "
               f"declared at p >= {declare_at:.3f}, "
               f"{right[declared].mean() if declared.any() else float('nan'):.1%} of them right "
               f"({TARGET_PRECISION:.0%} asked of the lower end of its 95% interval, which "
               f"reaches {best_bound:.1%} at best over {MIN_DECLARED} calls or more); the "
               f"surest third of the calls are {third:.1%} right.")
    print(summary)
    write_weights(args.out, weights, declare_at, summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
