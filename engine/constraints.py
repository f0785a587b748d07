"""Constraints on what a token model may sample next, applied as a logit bias.

A masked token gets a bias of MASKED, which no Gumbel draw can overcome, so the model
samples among the remaining tokens in proportion to their probabilities: a constraint
reshapes the distribution instead of rejecting samples after the fact.
"""

from __future__ import annotations

import numpy as np

from antiphon.engine.codec import PITCHES, EventCodec

MASKED = np.float32(-1e9)


class WellFormedAnswer:
    """Keeps a generated answer playable: every release ends a sounding note, no note is
    zero-length, and a pitch is struck at most once per instant.

    Feed it what was sampled (`note_on`, `note_off`, `time_moved`); read `bias` before
    each step. `sounding` is what must be released when the answer ends.
    """

    def __init__(self, codec: EventCodec, base_bias: np.ndarray) -> None:
        self._on = codec.note_on_base
        self._off = codec.note_off_base
        self._shifts = slice(codec.shift_base, codec.velocity_base)  # SHIFT(1..max)
        self.bias = base_bias.copy()
        self.bias[self._off : self._off + PITCHES] = MASKED  # nothing sounds yet
        self.sounding: set[int] = set()
        self._struck_now: set[int] = set()

    def note_on(self, pitch: int) -> None:
        self.sounding.add(pitch)
        self._struck_now.add(pitch)
        self.bias[self._on + pitch] = MASKED  # not again in this instant
        self.bias[self._off + pitch] = MASKED  # not released in this instant

    def note_off(self, pitch: int) -> None:
        self.sounding.discard(pitch)
        self.bias[self._off + pitch] = MASKED

    def time_moved(self) -> None:
        for pitch in self.sounding:
            self.bias[self._off + pitch] = 0.0
        for pitch in self._struck_now:
            self.bias[self._on + pitch] = 0.0
        self._struck_now.clear()

    def limit_rest(self, max_ticks: int | None) -> None:
        """Allow only time shifts of at most `max_ticks` (None: any)."""
        shifts = self.bias[self._shifts]  # a view: SHIFT(n) is shifts[n - 1]
        shifts[:] = 0.0
        if max_ticks is not None:
            shifts[max(0, max_ticks):] = MASKED
