"""Musical measures of a few bars of notes, for an answer and for the tune's real
continuation alike (`antiphon eval answers`), and the relevance AUC that asks whether an
answer sounds more like its own call's continuation than like other calls'.

Notes are int arrays [N, 3] of (start, end, pitch) in ticks from the start of the bars
measured, TICKS_PER_BEAT (24) a quarter-note beat. Where MusPy defines a measure
(polyphony, pitch-class entropy, scale consistency, pitch range, groove consistency), it
is MusPy's, on a muspy.Music at that resolution; the rest are defined here:
- notes per beat: note starts per quarter-note beat of the bars measured;
- in key: the share of note-time (durations summed) whose pitch class lies in the tune's
  key (key_calls.tune_key): its major scale, or its natural-minor (aeolian) one;
- mean pitch: the mean MIDI pitch of the notes (each note once).
A measure with no note to measure is NaN (pitch range too, where MusPy says 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import muspy
import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT
from antiphon.training.evaluation.key_calls import TuneKey

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# The measures, in the order reports list them: name -> what it is, in words.
METRICS = {
    "notes_per_beat": "notes per beat",
    "polyphony": "mean polyphony",
    "pitch_class_entropy": "pitch-class entropy",
    "scale_consistency": "scale consistency",
    "in_key": "in key (note-time)",
    "mean_pitch": "mean pitch",
    "pitch_range": "pitch range",
    "groove_consistency": "groove consistency",
}


def to_music(notes: np.ndarray, length_ticks: int | None = None,
             onsets_only: bool = False) -> muspy.Music:
    """`notes` as a one-track muspy.Music at TICKS_PER_BEAT a beat. With `length_ticks`
    the music lasts exactly that long (an annotation on its last tick: MusPy counts bars
    up to the last event, and a trailing empty bar is still a bar). `onsets_only`: each
    note lasts no time, so a note ending on the last tick starts no bar after it."""
    track = muspy.Track(program=0, is_drum=False)
    for start, end, pitch in np.asarray(notes, np.int64).reshape(-1, 3).tolist():
        duration = 0 if onsets_only else max(0, end - start)
        track.notes.append(muspy.Note(time=start, pitch=pitch, duration=duration,
                                      velocity=64))
    if length_ticks is not None and length_ticks > 0:
        track.annotations.append(muspy.Annotation(time=length_ticks - 1,
                                                  annotation="end"))
    return muspy.Music(resolution=TICKS_PER_BEAT, tracks=[track])


def key_scale(key: TuneKey) -> frozenset[int]:
    """The pitch classes of the key's major or natural-minor scale."""
    steps = MAJOR_SCALE if key.mode == "major" else NATURAL_MINOR_SCALE
    return frozenset((key.tonic + step) % 12 for step in steps)


def in_key_share(notes: np.ndarray, key: TuneKey) -> float:
    """The share of note-time in the key's scale; NaN with no note-time."""
    notes = np.asarray(notes, np.int64).reshape(-1, 3)
    durations = np.maximum(notes[:, 1] - notes[:, 0], 0)
    total = durations.sum()
    if total <= 0:
        return math.nan
    scale = np.isin(notes[:, 2] % 12, sorted(key_scale(key)))
    return float(durations[scale].sum() / total)


def measure(notes: np.ndarray, length_ticks: int, bar_ticks: int,
            key: TuneKey) -> dict[str, float]:
    """Every measure of METRICS for `notes` over `length_ticks` (bars of `bar_ticks`)."""
    notes = np.asarray(notes, np.int64).reshape(-1, 3)
    music = to_music(notes, length_ticks)
    beats = length_ticks / TICKS_PER_BEAT
    empty = len(notes) == 0
    groove = muspy.groove_consistency(to_music(notes, length_ticks, onsets_only=True),
                                      measure_resolution=bar_ticks)
    return {
        "notes_per_beat": len(notes) / beats if beats > 0 else math.nan,
        "polyphony": float(muspy.polyphony(music)),
        "pitch_class_entropy": float(muspy.pitch_class_entropy(music)),
        "scale_consistency": float(muspy.scale_consistency(music)),
        "in_key": in_key_share(notes, key),
        "mean_pitch": math.nan if empty else float(notes[:, 2].mean()),
        "pitch_range": math.nan if empty else float(muspy.pitch_range(music)),
        "groove_consistency": math.nan if empty else float(groove),
    }


def pitch_class_profile(notes: np.ndarray) -> np.ndarray:
    """Note-time per pitch class (12 floats, durations summed)."""
    notes = np.asarray(notes, np.int64).reshape(-1, 3)
    profile = np.zeros(12)
    np.add.at(profile, notes[:, 2] % 12, np.maximum(notes[:, 1] - notes[:, 0], 0))
    return profile


def cosine_matrix(answers: Sequence[np.ndarray], reals: Sequence[np.ndarray]) -> np.ndarray:
    """[len(answers), len(reals)]: the cosine of each answer profile with each real one
    (0 where either is empty: nothing sounds alike with silence)."""
    a = np.array([pitch_class_profile(n) for n in answers]).reshape(-1, 12)
    r = np.array([pitch_class_profile(n) for n in reals]).reshape(-1, 12)
    a_norm = np.linalg.norm(a, axis=1, keepdims=True)
    r_norm = np.linalg.norm(r, axis=1, keepdims=True)
    a = np.divide(a, a_norm, out=np.zeros_like(a), where=a_norm > 0)
    r = np.divide(r, r_norm, out=np.zeros_like(r), where=r_norm > 0)
    return a @ r.T


def relevance_auc(similarity: np.ndarray, left_out: np.ndarray | None = None) -> float:
    """The AUC of telling each call's own real continuation (the diagonal) from the other
    calls' (the rest of its row) by similarity: over all (own, other) pairs, the share
    where own is the more similar, ties counting half. `left_out`: a bool matrix of the
    same shape marking pairs not to count. NaN with fewer than two calls."""
    similarity = np.asarray(similarity, float)
    count = similarity.shape[0]
    if count < 2:
        return math.nan
    own = np.diag(similarity)[:, None]
    other = ~np.eye(count, dtype=bool)
    if left_out is not None:
        other &= ~np.asarray(left_out, bool)
    wins = ((own > similarity) & other).sum() + 0.5 * ((own == similarity) & other).sum()
    return float(wins / other.sum())


def auc_of(answers: Sequence[np.ndarray], reals: Sequence[np.ndarray]) -> float:
    """relevance_auc of answers against the real continuations of the same calls."""
    return relevance_auc(cosine_matrix(answers, reals))


def floor_auc(reals: Sequence[np.ndarray]) -> float:
    """relevance_auc where each call is answered by the next call's real continuation:
    an answer that knows nothing of its call (about 0.5). The pair with the continuation
    it copies is not counted: no answer is its own other continuation."""
    count = len(reals)
    if count < 3:
        return math.nan
    borrowed = list(reals[1:]) + list(reals[:1])
    left_out = np.zeros((count, count), bool)
    left_out[np.arange(count), (np.arange(count) + 1) % count] = True
    return relevance_auc(cosine_matrix(borrowed, reals), left_out)
