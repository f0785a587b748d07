"""Constraints on what a token model may sample next, applied as a logit bias.

A masked token gets a bias of MASKED, which no Gumbel draw can overcome, so the model
samples among the remaining tokens in proportion to their probabilities: a constraint
reshapes the distribution instead of rejecting samples after the fact. A soft rule (the
key bias of an answer whose call has no certain key) adds a finite bias instead: it makes
some strikes less likely and forbids none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from antiphon.engine.codec import PITCHES, EventCodec

MASKED = np.float32(-1e9)
TEXTURES = ("auto", "melody", "chords")  # see texture.py
MAX_CANDIDATES = 16  # most answers drawn per call for best of N (candidates.py)

TONICS = {"C": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "F": 5, "F#": 6,
          "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11}
MODES = {  # semitones above the tonic
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    # The seven church modes: the major scale started on each of its degrees.
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor-pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}


def scale_pitch_classes(name: str) -> frozenset[int]:
    """Pitch classes (0 = C) of a scale named like "D dorian", "Bb major" or "chromatic"."""
    words = name.strip().split()
    if [w.lower() for w in words] == ["chromatic"]:
        return frozenset(range(12))
    if len(words) != 2 or words[0].upper() not in TONICS or words[1].lower() not in MODES:
        raise ValueError(
            f"scale {name!r} is not '<tonic> <mode>' or 'chromatic' (tonics C, C#, Db, ... B; "
            f"modes {', '.join(MODES)})"
        )
    tonic = TONICS[words[0].upper()]
    return frozenset((tonic + step) % 12 for step in MODES[words[1].lower()])


@dataclass(frozen=True)
class PitchRules:
    """What an answer may play, whatever the model would like to."""

    lowest: int = 0  # lowest pitch it may strike
    highest: int = 127  # highest pitch it may strike
    pitch_classes: frozenset[int] = frozenset(range(12))  # allowed pitch classes, 0 = C
    max_polyphony: int | None = None  # most notes sounding at once (None: no limit)
    # How strongly an answer leans to its call's likely keys when the key finder declares
    # none (`--key-bias`; 0: not at all). Read by key_finding.rules_for_call, which turns
    # it into `pitch_class_bias`.
    key_bias: float = 0.0
    # Added to the logit of striking each pitch class (12 values, 0 = C; empty: none): a
    # soft preference, where `pitch_classes` is a hard mask. Nothing is masked by it.
    pitch_class_bias: tuple[float, ...] = ()
    # Whose texture the answer's polyphony follows (`--texture`): "auto" (the call's: one
    # voice for a single line), "melody" (one voice) or "chords" (max_polyphony alone).
    # Read by texture.rules_for_texture, which turns it into `max_polyphony`.
    texture: str = "chords"

    def __post_init__(self) -> None:
        if not 0 <= self.lowest <= self.highest <= 127:
            raise ValueError(f"pitch range must lie in 0..127 with lowest <= highest, "
                             f"got {self.lowest}..{self.highest}")
        if self.max_polyphony is not None and self.max_polyphony < 1:
            raise ValueError(f"max_polyphony must be >= 1, got {self.max_polyphony}")
        if not (self.key_bias >= 0 and np.isfinite(self.key_bias)):
            raise ValueError(f"key_bias must be a finite number >= 0, got {self.key_bias}")
        if len(self.pitch_class_bias) not in (0, 12) or not np.isfinite(
                np.asarray(self.pitch_class_bias, dtype=float)).all():
            raise ValueError("pitch_class_bias must hold 12 finite numbers, or none")
        if self.texture not in TEXTURES:
            raise ValueError(f"texture must be one of {', '.join(TEXTURES)}, "
                             f"got {self.texture!r}")
        if not self.allowed_pitches().any():
            raise ValueError(f"no pitch in {self.lowest}..{self.highest} belongs to the scale")

    def allowed_pitches(self) -> np.ndarray:
        """bool [128]: True where a strike is allowed."""
        pitches = np.arange(PITCHES)
        in_scale = np.isin(pitches % 12, sorted(self.pitch_classes))
        return in_scale & (pitches >= self.lowest) & (pitches <= self.highest)

    def strike_bias(self) -> np.ndarray:
        """float32 [128]: what `pitch_class_bias` adds to striking each pitch."""
        if not self.pitch_class_bias:
            return np.zeros(PITCHES, dtype=np.float32)
        by_class = np.asarray(self.pitch_class_bias, dtype=np.float32)
        return by_class[np.arange(PITCHES) % 12]


class WellFormedAnswer:
    """Keeps a generated answer playable: every release ends a sounding note, no note is
    zero-length, and a pitch is struck at most once per instant; and within `rules`.

    Feed it what was sampled (`note_on`, `note_off`, `time_moved`); read `bias` before
    each step. `sounding` is what must be released when the answer ends.
    """

    def __init__(
        self, codec: EventCodec, base_bias: np.ndarray, rules: PitchRules | None = None
    ) -> None:
        rules = rules or PitchRules()
        self._allowed = rules.allowed_pitches()  # bool [128]
        self._leaning = rules.strike_bias()  # float32 [128]: the soft key bias, or zeros
        self._max_polyphony = rules.max_polyphony
        self._on = codec.note_on_base
        self._off = codec.note_off_base
        self._shifts = slice(codec.shift_base, codec.velocity_base)  # SHIFT(1..max)
        self.bias = base_bias.copy()
        self.bias[self._off : self._off + PITCHES] = MASKED  # nothing sounds yet
        self.sounding: set[int] = set()
        self._struck_now: set[int] = set()
        self._strikes = self.bias[self._on : self._on + PITCHES]  # a view: NOTE_ON biases
        self._update_strikes()

    def _update_strikes(self) -> None:
        """Which pitches may be struck now: allowed by the rules, not struck in this
        instant, and only while the polyphony has room."""
        open_pitches = self._allowed.copy()
        open_pitches[list(self._struck_now)] = False
        if self._max_polyphony is not None and len(self.sounding) >= self._max_polyphony:
            open_pitches[:] = False
        self._strikes[:] = np.where(open_pitches, self._leaning, MASKED)

    def note_on(self, pitch: int) -> None:
        self.sounding.add(pitch)
        self._struck_now.add(pitch)  # not struck again in this instant
        self.bias[self._off + pitch] = MASKED  # not released in this instant
        self._update_strikes()

    def note_off(self, pitch: int) -> None:
        self.sounding.discard(pitch)
        self.bias[self._off + pitch] = MASKED
        self._update_strikes()

    def time_moved(self) -> None:
        for pitch in self.sounding:
            self.bias[self._off + pitch] = 0.0
        self._struck_now.clear()
        self._update_strikes()

    def limit_rest(self, max_ticks: int | None) -> None:
        """Allow only time shifts of at most `max_ticks` (None: any)."""
        shifts = self.bias[self._shifts]  # a view: SHIFT(n) is shifts[n - 1]
        shifts[:] = 0.0
        if max_ticks is not None:
            shifts[max(0, max_ticks):] = MASKED


MIN_TEMPERATURE = 1e-3  # below this, sampling is argmax in all but name


def checked_sampling(length_ticks: int, temperature: float, top_p: float) -> float:
    """Refuse an answer request no session can honour (ValueError naming the argument);
    returns the temperature to sample at (floored at MIN_TEMPERATURE)."""
    if length_ticks <= 0:
        raise ValueError(f"length_ticks must be > 0, got {length_ticks}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
    return max(temperature, MIN_TEMPERATURE)
