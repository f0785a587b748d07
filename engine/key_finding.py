"""The key of a call, and the rules an answer to it keeps (`--scale auto`).

A musician answering a phrase in D major stays in D major, and near where the phrase was
played. Left alone, a model strikes some notes outside a diatonic call's scale, and at a
high temperature it wanders over the whole keyboard. So the answer is held to a range
around the call's notes, and to the call's key: by a hard mask when the key is certain
enough, by a soft lean toward the likely keys when it is not.

Finding the key. Each of the 24 major and minor keys is scored by the same function of
what points at it, read from its tonic up (`key_features`), so the finder is the same in
every transposition: how long each scale degree sounds, whether and how often it sounds,
and how long on the beat (the call's ticks lie on a beat grid, TICKS_PER_BEAT to a beat);
which degree the call's first, last, lowest and longest notes are, its first and last
notes on a beat, the note after its longest and its last note a beat long (a folk tune's
first and last notes, and those it dwells on, are mostly its tonic or fifth); the motions
into the tonic (the leading note rising to it, the fifth falling or rising to it, a step
onto it); the correlation of the call's pitch-class durations with three key profiles
(Krumhansl-Kessler, Aarden-Essen, Temperley-Kostka-Payne; the first two are music21's
`analysis.discrete`); how much of the call lies in the key's scale; and, alike for every
key, how many pitch classes and notes the call has and how long it and its last note
are. The score (`key_scores`) is a linear sum plus a small network (one hidden tanh
layer), and a softmax over the keys gives each one's probability. The weights
(key_weights.py) were fitted on one- to four-bar calls of the training split of folk
tunes, with the tune's final note as the truth; `python -m
antiphon.training.evaluation.key_fit` fits them again (torch, at training time only:
the forward pass here is numpy).

A key is *declared* (and the answer masked to its scale) when its probability reaches
DECLARE_AT, set on the validation split as the lowest probability at which declared keys
are right at least 90 % of the time, judged by the lower end of that precision's 95 %
interval so that calls never seen hold it too; where no probability gets there, nothing
is declared (key_weights.py says which). `antiphon eval-keys` measures both on held-out
calls. Otherwise the answer leans: each pitch class's strike logit gets -key_bias x (the
probability, over the likely keys, that the pitch class lies outside the key's scale);
nothing is masked. The truth the finder is fitted and scored on is the tune's final note
(training/evaluation/key_calls.py), and a tenth or more of folk tunes that look plainly
major end on their third or fifth: in two bars (or eight) no finder can tell them, which
is why a mask is rarely worth its risk and the lean does most of the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from antiphon.engine.constraints import MODES, PitchRules
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.key_weights import (
    DECLARE_AT,
    HIDDEN_BIAS,
    HIDDEN_WEIGHTS,
    OUTPUT_WEIGHTS,
    WEIGHTS,
)

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Key profiles (music21.analysis.discrete): how well each scale degree fits a key.
PROFILES = {
    "krumhansl-kessler": (
        [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88],
        [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    "aarden-essen": (
        [17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062,
         0.145624, 8.15494, 0.232998, 4.95122],
        [18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161,
         4.56621, 1.93186, 7.37619, 1.75623]),
    "temperley-kostka-payne": (
        [0.748, 0.06, 0.488, 0.082, 0.67, 0.46, 0.096, 0.715, 0.104, 0.366, 0.057, 0.4],
        [0.712, 0.084, 0.474, 0.618, 0.049, 0.46, 0.105, 0.747, 0.404, 0.067, 0.133, 0.33]),
}
FAMILIES = ("major", "minor")  # the 24 keys: KEYS[i] = (tonic, family)
KEYS = tuple((tonic, family) for family in FAMILIES for tonic in range(12))
# The scale a declared key masks to is the one of its family that fits the call best (the
# first on a tie): a dorian tune keeps its major sixth, a minor one its leading note.
FAMILY_MODES = {"major": ("major", "mixolydian"),
                "minor": ("minor", "harmonic-minor", "dorian")}
# What a key's scale holds for the soft lean: every mode of its family.
FAMILY_CLASSES = {family: frozenset(step for mode in modes for step in MODES[mode])
                  for family, modes in FAMILY_MODES.items()}
# Blocks of 24 columns (12 degrees for a major key, 12 for a minor one), from the tonic up.
DEGREE_BLOCKS = (
    "share", "present", "onsets", "on_beat",  # how long / whether / how often; on beats
    "first", "last", "lowest", "longest",  # which degree the note named is (one-hot)
    "first_on_beat", "last_on_beat", "after_longest", "last_long")
KEY_SCALARS = ("minor", *PROFILES, "fit",  # one number per key
               "leading_note_up", "fifth_to_tonic", "step_to_tonic")
CALL_SCALARS = ("pitch_classes", "notes", "last_length", "span", "ends_on_beat")  # per call
FEATURES = len(DEGREE_BLOCKS) * 24 + len(KEY_SCALARS) + len(CALL_SCALARS)
MIN_PITCH_CLASSES = 3  # fewer distinct pitch classes say nothing certain about a key
MIN_SCALE_FIT = 0.85  # a declared key's scale holds this share of the call's sounding time
RANGE_MARGIN = 12  # the answer may go an octave beyond the call's lowest and highest notes
LAST_NOTE_TICKS = 24  # a note still held when the call ended counts this long


@dataclass(frozen=True)
class KeyEstimate:
    tonic: int  # pitch class, 0 = C
    mode: str  # a name in constraints.MODES: the best-fitting scale of the key's family
    probability: float  # of the key (major or minor on this tonic), from the softmax
    fit: float  # share of the call's sounding time inside the mode's scale
    clear: bool  # declared: the answer is masked to the scale
    posterior: tuple[float, ...] = ()  # all 24 keys' probabilities, in KEYS order

    @property
    def family(self) -> str:
        return "major" if self.mode in FAMILY_MODES["major"] else "minor"

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.tonic + step) % 12 for step in MODES[self.mode])


def call_notes(call: Sequence[NoteEvent]) -> list[tuple[int, int, int]]:
    """(start, end, pitch) of the call's notes, by start; a note still held when the call
    ended lasts LAST_NOTE_TICKS."""
    notes, started = [], {}
    for event in call:
        if event.velocity > 0:
            started.setdefault(event.pitch, event.tick)
        elif event.pitch in started:
            start = started.pop(event.pitch)
            notes.append((start, max(start + 1, event.tick), event.pitch))
    notes += [(start, start + LAST_NOTE_TICKS, pitch) for pitch, start in started.items()]
    return sorted(notes)


def pitch_class_weights(call: Sequence[NoteEvent]) -> np.ndarray:
    """float [12]: ticks each pitch class sounds in the call (a note still held at its end
    counts LAST_NOTE_TICKS)."""
    weights = np.zeros(12)
    for start, end, pitch in call_notes(call):
        weights[pitch % 12] += end - start
    return weights


def key_features(call: Sequence[NoteEvent]) -> np.ndarray | None:
    """float [24, FEATURES]: what points at each key (module docstring); None: no notes."""
    notes = call_notes(call)
    if not notes:
        return None
    starts, ends, pitches = (np.array(column) for column in zip(*notes, strict=True))
    classes, lengths = pitches % 12, ends - starts
    on_beat = starts % TICKS_PER_BEAT == 0
    longest = int(np.argmax(lengths))  # the earliest of the longest
    held = np.nonzero(lengths >= TICKS_PER_BEAT)[0]
    first_start, last_start = starts[0], starts.max()
    marked = {  # pitch classes of the notes that often name the key, by block
        "first": pitches[starts == first_start].min() % 12,
        "last": pitches[starts == last_start].min() % 12,
        "lowest": pitches.min() % 12,
        "longest": classes[longest],
        "first_on_beat": classes[on_beat][0] if on_beat.any() else None,
        "last_on_beat": classes[on_beat][-1] if on_beat.any() else None,
        "after_longest": classes[min(longest + 1, len(notes) - 1)],
        "last_long": classes[held[-1]] if len(held) else classes[-1],
    }
    weights = np.bincount(classes, lengths, 12).astype(float)
    spread = {  # a value per pitch class, shared out over the scale degrees of each key
        "share": weights / weights.sum(),
        "present": (weights > 0).astype(float),
        "onsets": np.bincount(classes, minlength=12) / len(notes),
        "on_beat": _shares(np.bincount(classes[on_beat], lengths[on_beat], 12)),
    }
    tonics = np.arange(12)
    degrees = (tonics[:, None] + tonics[None, :]) % 12  # [tonic, degree]: its pitch class
    standard = (weights - weights.mean()) / weights.std() if weights.std() > 0 else None
    features = np.zeros((24, FEATURES))
    scalars = len(DEGREE_BLOCKS) * 24
    for side, family in enumerate(FAMILIES):
        rows = slice(12 * side, 12 * side + 12)
        for block, name in enumerate(DEGREE_BLOCKS):
            at = block * 24 + 12 * side
            if name in spread:
                features[rows, at:at + 12] = spread[name][degrees]
            elif marked[name] is not None:
                features[12 * side + tonics, at + (marked[name] - tonics) % 12] = 1.0
        features[rows, scalars] = float(family == "minor")
        for index, profiles in enumerate(PROFILES.values(), start=1):
            profile = np.asarray(profiles[side], dtype=float)[(tonics[None, :] - tonics[:, None])
                                                               % 12]  # [tonic, pitch class]
            if standard is not None:  # Pearson correlation of the durations with each key's
                profile = (profile - profile.mean(axis=1, keepdims=True)) / profile.std(
                    axis=1, keepdims=True)
                features[rows, scalars + index] = profile @ standard / 12
        steps = sorted(FAMILY_CLASSES[family])
        features[rows, scalars + len(PROFILES) + 1] = spread["share"][degrees[:, steps]].sum(
            axis=1)
        features[rows, scalars + len(PROFILES) + 2:scalars + len(KEY_SCALARS)] = \
            _moves_to_tonic(classes, pitches)
    features[:, scalars + len(KEY_SCALARS):] = [
        np.count_nonzero(weights) / 12, np.log(len(notes)) / 4, lengths[-1] / lengths.max(),
        (ends.max() - first_start) / (8 * TICKS_PER_BEAT), float(on_beat[-1])]
    return features


def _shares(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else np.zeros(len(values))


def _moves_to_tonic(classes: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """float [12 tonics, 3]: the shares of the call's steps from one note to the next that
    go up a semitone from the leading note to the tonic, from the fifth to the tonic, and to
    the tonic by a step (a cadence's motions)."""
    moves = np.zeros((12, 3))
    if len(pitches) < 2:
        return moves
    interval = np.diff(pitches)
    for tonic in range(12):
        before, after = (classes[:-1] - tonic) % 12, (classes[1:] - tonic) % 12
        moves[tonic] = [np.mean((before == 11) & (after == 0) & (interval == 1)),
                        np.mean((before == 7) & (after == 0)),
                        np.mean((after == 0) & (np.abs(interval) <= 2) & (interval != 0))]
    return moves


def key_scores(features: np.ndarray) -> np.ndarray:
    """float [..., 24]: each key's score (a logit) from its features [..., 24, FEATURES]:
    a linear part and a small network's (one hidden tanh layer), the same for every key."""
    hidden = np.tanh(features @ HIDDEN_WEIGHTS + HIDDEN_BIAS)
    return features @ WEIGHTS + hidden @ OUTPUT_WEIGHTS


def key_posterior(call: Sequence[NoteEvent]) -> np.ndarray | None:
    """float [24]: each key's probability (KEYS order); None for a call without notes."""
    features = key_features(call)
    if features is None:
        return None
    scores = key_scores(features)
    scores = np.exp(scores - scores.max())
    return scores / scores.sum()


def find_key(call: Sequence[NoteEvent]) -> KeyEstimate | None:
    """The call's most likely key, declared `clear` when it is likely enough, or None for a
    call without notes."""
    posterior = key_posterior(call)
    if posterior is None:
        return None
    best = int(np.argmax(posterior))
    tonic, family = KEYS[best]
    weights = pitch_class_weights(call)
    fit, mode = scale_fit(weights, tonic, family)
    probability = float(posterior[best])
    clear = bool(probability >= DECLARE_AT and may_declare(weights, fit))
    return KeyEstimate(tonic, mode, probability, fit, clear, tuple(posterior.tolist()))


def scale_fit(weights: np.ndarray, tonic: int, family: str) -> tuple[float, str]:
    """(share of the sounding time inside the scale, mode): the mode of the key's family
    whose scale holds most of the call (the first on a tie)."""
    fit, _, mode = max((_fit(weights, tonic, mode), -rank, mode)
                       for rank, mode in enumerate(FAMILY_MODES[family]))
    return fit, mode


def may_declare(weights: np.ndarray, fit: float) -> bool:
    """Whether a call may be masked to a key at all, however likely the key: it has
    MIN_PITCH_CLASSES pitch classes or more, and MIN_SCALE_FIT of it lies in the key's
    scale (a chromatic call is not a folk tune's, and the fit knows nothing of it)."""
    return bool(np.count_nonzero(weights) >= MIN_PITCH_CLASSES and fit >= MIN_SCALE_FIT)


def _fit(weights: np.ndarray, tonic: int, mode: str) -> float:
    classes = [(tonic + step) % 12 for step in MODES[mode]]
    return float(weights[classes].sum() / weights.sum())


def key_lean(posterior: Sequence[float], strength: float) -> tuple[float, ...]:
    """12 strike biases (0 = C): -strength x the probability that the pitch class lies
    outside the key's scale (all modes of its family), over the 24 keys' posterior."""
    outside = np.zeros(12)
    for probability, (tonic, family) in zip(posterior, KEYS, strict=True):
        scale = [(tonic + step) % 12 for step in FAMILY_CLASSES[family]]
        miss = np.ones(12)
        miss[scale] = 0.0
        outside += probability * miss
    return tuple(float(-strength * value) for value in outside)


def rules_for_call(call: Sequence[NoteEvent], base: PitchRules) -> tuple[PitchRules, str]:
    """`base` narrowed to the call: masked to its key's scale when the key is declared,
    else leaning toward the likely keys by `base.key_bias`; and a range an octave around
    its notes (within base's). Returns (rules, what was chosen, for the log)."""
    pitches = [event.pitch for event in call if event.velocity > 0]
    if not pitches:
        return base, "no call notes: any pitch"
    lowest = max(base.lowest, min(pitches) - RANGE_MARGIN)
    highest = min(base.highest, max(pitches) + RANGE_MARGIN)
    if lowest > highest:  # the call lies outside the configured range: keep that range
        lowest, highest = base.lowest, base.highest
    key = find_key(call)
    classes, lean = base.pitch_classes, base.pitch_class_bias
    chosen = f"range {lowest}..{highest}"
    if key is not None and key.clear and key.pitch_classes() & classes:
        classes = key.pitch_classes() & classes
        chosen = f"{key.name} (p={key.probability:.2f}, {key.fit:.0%} in scale), {chosen}"
    elif key is not None and base.key_bias > 0:
        lean = key_lean(key.posterior, base.key_bias)
        chosen = (f"no certain key, leaning to {key.name} (p={key.probability:.2f}, "
                  f"key bias {base.key_bias:g}), {chosen}")
    else:
        chosen = f"no certain key, {chosen}"
    for narrowed in ({"lowest": lowest, "highest": highest, "pitch_classes": classes},
                     {"pitch_classes": classes}):  # no pitch left in the range: it gives way
        try:
            return replace(base, pitch_class_bias=lean, **narrowed), chosen
        except ValueError:
            continue
    return base, "the call's key leaves no pitch in the configured range: as configured"
