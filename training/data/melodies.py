"""Melody lines for the small models: key-normalised, on a 16th-note grid or note by note.

A piece's melody is its skyline: at each onset the highest note starting there, held until
it ends or the next melody note starts. Pieces are moved to C major or A minor first (the
key estimated with the Krumhansl-Kessler profiles on a duration-weighted pitch-class
histogram, as music21's `analyze('key')` does), so a small model spends nothing on
learning the same tune in twelve keys.

Two encodings of one line:
- the 16th-note grid (Magenta's melody RNN): one token per 16th: HOLD (nothing new),
  REST (the note stops) or NOTE(pitch) (a note starts);
- notes: (pitch, duration class) per note, the class the nearest of DURATION_SIXTEENTHS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent

TICKS_PER_SIXTEENTH = TICKS_PER_BEAT // 4
HOLD, REST, NOTE_BASE = 0, 1, 2  # grid tokens; NOTE_BASE + pitch starts a note
GRID_VOCAB = NOTE_BASE + 128
DURATION_SIXTEENTHS = (1, 2, 3, 4, 6, 8, 12, 16)  # 16th .. whole note, dotted ones between
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def notes_of(events: Sequence[NoteEvent]) -> list[tuple[int, int, int]]:
    """(start, end, pitch) of every note of a well-formed event stream."""
    sounding: dict[int, int] = {}
    notes = []
    for event in events:
        if event.pitch in sounding:
            notes.append((sounding.pop(event.pitch), event.tick, event.pitch))
        if event.velocity:
            sounding[event.pitch] = event.tick
    return sorted(notes)


def skyline(notes: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The melody: per onset the highest note, cut where the next melody note starts."""
    highest: dict[int, tuple[int, int]] = {}
    for start, end, pitch in notes:
        if start not in highest or pitch > highest[start][1]:
            highest[start] = (end, pitch)
    onsets = sorted(highest)
    line = []
    for index, start in enumerate(onsets):
        end, pitch = highest[start]
        if index + 1 < len(onsets):
            end = min(end, onsets[index + 1])
        line.append((start, end, pitch))
    return line


def key_shift(notes: Sequence[tuple[int, int, int]]) -> int:
    """Semitones (-6..5) that move the estimated key to C major or A minor."""
    histogram = np.zeros(12)
    for start, end, pitch in notes:
        histogram[pitch % 12] += end - start
    if not histogram.any():
        return 0
    best, shift = -np.inf, 0
    for tonic in range(12):
        rotated = np.roll(histogram, -tonic)  # pitch classes relative to this tonic
        for profile, target in ((MAJOR_PROFILE, 0), (MINOR_PROFILE, 9)):
            score = np.corrcoef(rotated, profile)[0, 1]
            if score > best:
                best, shift = score, (target - tonic + 6) % 12 - 6
    return shift


def melody_line(events: Sequence[NoteEvent]) -> list[tuple[int, int, int]]:
    """The key-normalised skyline, in 16ths from the first note (notes shorter than a 16th
    after snapping keep one)."""
    notes = notes_of(events)
    if not notes:
        return []
    shift = key_shift(notes)
    origin = notes[0][0]
    line = []
    for start, end, pitch in skyline(notes):
        first = round((start - origin) / TICKS_PER_SIXTEENTH)
        last = max(first + 1, round((end - origin) / TICKS_PER_SIXTEENTH))
        if line and first <= line[-1][0]:
            continue  # two onsets in one 16th: the first wins
        if line and line[-1][1] > first:
            line[-1] = (line[-1][0], first, line[-1][2])
        line.append((first, last, min(127, max(0, pitch + shift))))
    return line


def grid_tokens(line: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """int16 [steps]: one token per 16th from the first note to the last note's end."""
    if not line:
        return np.zeros(0, dtype=np.int16)
    tokens = np.full(line[-1][1], HOLD, dtype=np.int16)
    for index, (first, last, pitch) in enumerate(line):
        tokens[first] = NOTE_BASE + pitch
        following = line[index + 1][0] if index + 1 < len(line) else len(tokens)
        if last < following:
            tokens[last] = REST
    return tokens


def duration_class(sixteenths: int) -> int:
    return int(np.argmin([abs(sixteenths - d) for d in DURATION_SIXTEENTHS]))


def note_sequence(line: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """int16 [notes, 2]: (pitch, duration class) per melody note; a note's duration runs to
    the next onset (its rest included), so the sequence keeps the rhythm."""
    rows = []
    for index, (first, last, pitch) in enumerate(line):
        following = line[index + 1][0] if index + 1 < len(line) else last
        rows.append((pitch, duration_class(following - first)))
    return np.array(rows, dtype=np.int16).reshape(-1, 2)


def stratified_dummy_accuracy(train: np.ndarray, test: np.ndarray, classes: int) -> float:
    """Expected accuracy of guessing at random with the train split's class frequencies
    (scikit-learn's "stratified" dummy): sum over classes of p_train * p_test."""
    p_train = np.bincount(train, minlength=classes) / len(train)
    p_test = np.bincount(test, minlength=classes) / len(test)
    return float((p_train * p_test).sum())
