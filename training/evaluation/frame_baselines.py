"""Frame-level NLL on piano rolls, and the count baselines that set its floor.

The protocol (Boulanger-Lewandowski et al. 2012): for every test
frame, -log p(frame | the earlier frames of its piece) in nats, the frame's probability
being the joint probability of all 88 keys; the figure is the mean over all test frames of
all pieces, the first frame of a piece predicted from nothing. Models with independent
Bernoulli outputs hand over p(key sounds) [T, 88] per piece and `frame_nll` does the rest.

The floors: a per-key unigram (each key sounds with its train frequency, whatever came
before) and a per-key first-order Markov chain (p(key sounds | it sounded / was silent in
the previous frame); a piece's first frame from the unigram). Both are fitted on train
with add-1/2 smoothing, so a key never seen in train still has a little probability.
A model that does not beat them has learned nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.training.data.benchmarks import load_benchmark

log = logging.getLogger(__name__)

PROBABILITY_FLOOR = 1e-7  # probabilities are clipped to [floor, 1 - floor]: no infinite loss
SMOOTHING = 0.5  # add-1/2 (Krichevsky-Trofimov) pseudo-counts for each outcome of a key


def frame_log_losses(probabilities: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """float64 [T]: -log p(frame) in nats, for p(key sounds) [T, K] and a roll [T, K]."""
    p = np.asarray(probabilities, dtype=np.float64)  # [T, K]
    roll = np.asarray(roll).astype(bool)  # [T, K]
    if p.shape != roll.shape:
        raise ValueError(f"probabilities {p.shape} and roll {roll.shape} differ in shape")
    if not np.isfinite(p).all() or p.min(initial=0.0) < 0.0 or p.max(initial=0.0) > 1.0:
        raise ValueError("probabilities must be finite and lie in [0, 1]")
    p = np.clip(p, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    log_p_keys = np.where(roll, np.log(p), np.log1p(-p))  # [T, K]: log p(each key's state)
    return -log_p_keys.sum(axis=1)  # keys are independent given the past: log p's add


def frame_nll(
    probabilities_per_piece: Sequence[np.ndarray],
    rolls: Sequence[np.ndarray],
    skip_first_frame: bool = False,
) -> float:
    """Mean -log p(frame | earlier frames) in nats over all frames of all pieces.

    `probabilities_per_piece[i]` [T_i, K] is p(key sounds) for each frame of `rolls[i]`
    [T_i, K], each row predicted from the piece's earlier rows only. `skip_first_frame`
    leaves every piece's first frame unscored (some published floors were measured that
    way, though the protocol scores the first frame).
    """
    if len(probabilities_per_piece) != len(rolls):
        raise ValueError(
            f"{len(probabilities_per_piece)} predictions for {len(rolls)} pieces"
        )
    losses = [
        frame_log_losses(p, roll)[1 if skip_first_frame else 0 :]
        for p, roll in zip(probabilities_per_piece, rolls, strict=True)
    ]
    frames = sum(len(piece) for piece in losses)
    if frames == 0:
        raise ValueError("there are no frames to score")
    return float(sum(piece.sum() for piece in losses) / frames)


@dataclass(frozen=True)
class UnigramBaseline:
    """Each key sounds with its own train frequency, independently of the past."""

    p_sounding: np.ndarray  # float64 [K]: p(key sounds in a frame)

    @classmethod
    def fit(cls, rolls: Sequence[np.ndarray], smoothing: float = SMOOTHING) -> UnigramBaseline:
        train = _stack(rolls)  # [N, K]
        sounding = train.sum(axis=0)  # [K]
        return cls((sounding + smoothing) / (len(train) + 2 * smoothing))

    def predict(self, roll: np.ndarray) -> np.ndarray:
        """p(key sounds) [T, K] for every frame of `roll` (which it does not look at)."""
        return np.broadcast_to(self.p_sounding, np.shape(roll)).copy()


@dataclass(frozen=True)
class MarkovBaseline:
    """Each key follows its own two-state chain: p(sounds | sounded / was silent before)."""

    first: UnigramBaseline  # for a piece's first frame, which has no previous one
    p_after_sounding: np.ndarray  # float64 [K]: p(key sounds | it sounded in the last frame)
    p_after_silent: np.ndarray  # float64 [K]: p(key sounds | it was silent in the last frame)

    @classmethod
    def fit(cls, rolls: Sequence[np.ndarray], smoothing: float = SMOOTHING) -> MarkovBaseline:
        # Transitions within pieces only: the end of one piece does not lead into the next.
        before = _stack([np.asarray(roll)[:-1] for roll in rolls])  # [N, K]
        after = _stack([np.asarray(roll)[1:] for roll in rolls])  # [N, K]
        after_sounding = (before & after).sum(axis=0)  # [K]
        after_silent = (~before & after).sum(axis=0)  # [K]
        return cls(
            UnigramBaseline.fit(rolls, smoothing),
            (after_sounding + smoothing) / (before.sum(axis=0) + 2 * smoothing),
            (after_silent + smoothing) / ((~before).sum(axis=0) + 2 * smoothing),
        )

    def predict(self, roll: np.ndarray) -> np.ndarray:
        """p(key sounds) [T, K] for every frame of `roll`, each from the frame before it."""
        roll = np.asarray(roll).astype(bool)  # [T, K]
        p = np.where(roll[:-1], self.p_after_sounding, self.p_after_silent)  # [T - 1, K]
        return np.concatenate([self.first.p_sounding[None], p])[: len(roll)]


def baseline_nlls(
    train: Sequence[np.ndarray], test: Sequence[np.ndarray], skip_first_frame: bool = False
) -> dict[str, float]:
    """Frame NLL of the unigram and the Markov baseline, fitted on `train`, on `test`."""
    unigram = UnigramBaseline.fit(train)
    markov = MarkovBaseline.fit(train)
    return {
        "unigram": frame_nll([unigram.predict(r) for r in test], test, skip_first_frame),
        "markov": frame_nll([markov.predict(r) for r in test], test, skip_first_frame),
    }


def benchmark_baselines(path: str | Path, skip_first_frame: bool = False) -> dict[str, float]:
    """The floors of a benchmark file (`.mat` or `.json`): fitted on train, scored on test.

    Returns {"unigram": nats, "markov": nats, "test_frames": count}.
    """
    rolls = load_benchmark(path)
    figures = baseline_nlls(rolls["train"], rolls["test"], skip_first_frame)
    figures["test_frames"] = float(sum(len(roll) for roll in rolls["test"]))
    log.info(
        "%s: unigram %.4f, markov %.4f nats per frame over %d test frames",
        Path(path).name, figures["unigram"], figures["markov"], figures["test_frames"],
    )
    return figures


def _stack(rolls: Sequence[np.ndarray]) -> np.ndarray:
    """All frames of `rolls` as one bool [N, K] array."""
    if not rolls:
        raise ValueError("no pieces to fit on")
    return np.concatenate([np.asarray(roll).astype(bool) for roll in rolls])
