"""The key of a call, and the rules an answer to it keeps (`--scale auto`).

A musician answering a phrase in D major stays in D major, and near where the phrase was
played. Left alone, a model strikes some notes outside a diatonic call's scale, and at a
high temperature it wanders over the whole keyboard. So, when a call clearly has a key,
the answer is held to its scale, and to a range around the call's notes.

The key is found the Krumhansl-Schmuckler way: the call's pitch classes, weighted by how
long each sounds, are correlated with the Krumhansl-Kessler profiles of the 24 major and
minor keys; the best correlation names the key. A call "clearly has" that key when the
correlation is high and nearly all of its sounding time lies in the key's scale (natural
or harmonic minor for a minor key, whichever fits better). A chromatic or very short call
has none, and the answer is not held to a scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from antiphon.engine.constraints import MODES, PitchRules
from antiphon.engine.events import NoteEvent

# Krumhansl & Kessler (1982): how well each scale degree fits a major / minor key context.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MIN_CORRELATION = 0.6  # below: the call's pitches do not point at one key
MIN_FIT = 0.9  # share of the call's sounding time that must lie in the key's scale
MIN_PITCH_CLASSES = 3  # fewer distinct pitch classes say nothing about a key
RANGE_MARGIN = 12  # the answer may go an octave beyond the call's lowest and highest notes
LAST_NOTE_TICKS = 24  # a note still held when the call ended counts this long


@dataclass(frozen=True)
class KeyEstimate:
    tonic: int  # pitch class, 0 = C
    mode: str  # a name in constraints.MODES: major, minor or harmonic-minor
    correlation: float  # with the key's profile
    fit: float  # share of the call's sounding time inside the key's scale
    clear: bool  # whether the answer should keep to it

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.tonic + step) % 12 for step in MODES[self.mode])


def pitch_class_weights(call: Sequence[NoteEvent]) -> np.ndarray:
    """float [12]: ticks each pitch class sounds in the call (a note still held at its end
    counts LAST_NOTE_TICKS)."""
    weights = np.zeros(12)
    started: dict[int, int] = {}
    for event in call:
        if event.velocity > 0:
            started.setdefault(event.pitch, event.tick)
        elif event.pitch in started:
            weights[event.pitch % 12] += max(1, event.tick - started.pop(event.pitch))
    for pitch in started:
        weights[pitch % 12] += LAST_NOTE_TICKS
    return weights


def find_key(call: Sequence[NoteEvent]) -> KeyEstimate | None:
    """The call's most likely key, or None for a call without notes.

    Keys whose scale holds MIN_FIT of the call's sounding time come first (the profiles
    alone can prefer the key a fifth away, whose scale misses one of the call's notes);
    among them, or among all keys when none fits, the best correlation wins."""
    weights = pitch_class_weights(call)
    if not weights.any():
        return None
    keys = []
    for profile, modes in ((MAJOR_PROFILE, ("major",)),
                           (MINOR_PROFILE, ("minor", "harmonic-minor"))):
        for tonic in range(12):
            rotated = np.roll(profile, tonic)  # the profile with its tonic on `tonic`
            correlation = float(np.corrcoef(weights, rotated)[0, 1]) if weights.std() else 0.0
            fit, mode = max((_fit(weights, tonic, mode), mode) for mode in modes)
            keys.append((fit >= MIN_FIT, correlation, fit, tonic, mode))
    fits, correlation, fit, tonic, mode = max(keys)
    clear = bool(fits and correlation >= MIN_CORRELATION
                 and np.count_nonzero(weights) >= MIN_PITCH_CLASSES)
    return KeyEstimate(tonic, mode, correlation, fit, clear)


def _fit(weights: np.ndarray, tonic: int, mode: str) -> float:
    classes = [(tonic + step) % 12 for step in MODES[mode]]
    return float(weights[classes].sum() / weights.sum())


def rules_for_call(call: Sequence[NoteEvent], base: PitchRules) -> tuple[PitchRules, str]:
    """`base` narrowed to the call: its key's scale when it clearly has one, and a range an
    octave around its notes (within base's). Returns (rules, what was chosen, for the log)."""
    pitches = [event.pitch for event in call if event.velocity > 0]
    if not pitches:
        return base, "no call notes: any pitch"
    lowest = max(base.lowest, min(pitches) - RANGE_MARGIN)
    highest = min(base.highest, max(pitches) + RANGE_MARGIN)
    if lowest > highest:  # the call lies outside the configured range: keep that range
        lowest, highest = base.lowest, base.highest
    key = find_key(call)
    classes = base.pitch_classes
    chosen = f"range {lowest}..{highest}"
    if key is not None and key.clear and key.pitch_classes() & classes:
        classes = key.pitch_classes() & classes
        chosen = f"{key.name} (r={key.correlation:.2f}, {key.fit:.0%} in scale), {chosen}"
    else:
        chosen = f"no clear key, {chosen}"
    for narrowed in ({"lowest": lowest, "highest": highest, "pitch_classes": classes},
                     {"pitch_classes": classes}):  # no pitch left in the range: it gives way
        try:
            return replace(base, **narrowed), chosen
        except ValueError:
            continue
    return base, "the call's key leaves no pitch in the configured range: as configured"
