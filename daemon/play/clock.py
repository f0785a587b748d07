"""Musical time: maps wall-clock seconds (time.perf_counter) to beats and back.

Everything inside Antiphon counts in beats; seconds appear only at the port edges, where a
message arrives (timestamped by the input callback) or leaves (sent by the scheduler).

The clock is an anchor (a moment in seconds, the beat it is) plus a tempo. A tempo change
re-anchors at the moment of the change, so the beat position never jumps. That is also how
a MIDI clock follower (a later issue) will work: it re-anchors on incoming pulses (24 per
quarter note) and the rest of Antiphon keeps calling the same four methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from antiphon.engine.events import TICKS_PER_BEAT

MIN_BPM = 20.0
MAX_BPM = 400.0


class _Anchor(NamedTuple):
    seconds: float  # a perf_counter moment
    beats: float  # the beat position at that moment
    seconds_per_beat: float


class Clock:
    """Internal tempo clock: beat 0 is the moment the clock was made (or `origin_seconds`).

    Thread-safe without a lock: the anchor is one immutable tuple, replaced in one store,
    and every method reads it once.
    """

    def __init__(
        self,
        bpm: float,
        origin_seconds: float | None = None,
        time_source: Callable[[], float] = time.perf_counter,
    ) -> None:
        _check_bpm(bpm)
        self._time = time_source
        start = time_source() if origin_seconds is None else origin_seconds
        self._anchor = _Anchor(start, 0.0, 60.0 / bpm)

    @property
    def time_source(self) -> Callable[[], float]:
        """What it reads the seconds from (`time.perf_counter`, or a test's VirtualTime,
        which the loop and the scheduler then wait by too: time_source.py)."""
        return self._time

    @property
    def bpm(self) -> float:
        return 60.0 / self._anchor.seconds_per_beat

    @property
    def seconds_per_beat(self) -> float:
        return self._anchor.seconds_per_beat

    def now_seconds(self) -> float:
        return self._time()

    def now_beats(self) -> float:
        return self.beats_at(self._time())

    def beats_at(self, seconds: float) -> float:
        anchor = self._anchor
        return anchor.beats + (seconds - anchor.seconds) / anchor.seconds_per_beat

    def seconds_at(self, beats: float) -> float:
        anchor = self._anchor
        return anchor.seconds + (beats - anchor.beats) * anchor.seconds_per_beat

    def reanchor(self, seconds: float, beats: float, seconds_per_beat: float) -> None:
        """From now on, `beats` is at `seconds` and the tempo is `seconds_per_beat` (for a
        follower of an outside clock, which knows where the beat is)."""
        self._anchor = _Anchor(seconds, beats, seconds_per_beat)

    def set_bpm(self, bpm: float, at_seconds: float | None = None) -> None:
        """Change the tempo from `at_seconds` (default: now) on; earlier beats keep their time."""
        _check_bpm(bpm)
        moment = self._time() if at_seconds is None else at_seconds
        self._anchor = _Anchor(moment, self.beats_at(moment), 60.0 / bpm)

    def close(self) -> None:
        """Let go of what the clock holds (a Link clock's session); the internal one holds
        nothing."""


def beats_to_ticks(beats: float) -> int:
    """The nearest clock tick (TICKS_PER_BEAT per beat)."""
    return round(beats * TICKS_PER_BEAT)


def ticks_to_beats(ticks: int) -> float:
    return ticks / TICKS_PER_BEAT


def _check_bpm(bpm: float) -> None:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise ValueError(f"tempo must be {MIN_BPM:g}..{MAX_BPM:g} BPM, got {bpm:g}")
