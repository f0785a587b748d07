"""What the key finder reads in a call: metre (notes on the beat), the motions into a
tonic, and the notes a folk tune's key shows in (key_finding.key_features)."""

from __future__ import annotations

import numpy as np

from antiphon.engine import key_weights
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.key_finding import (
    CALL_SCALARS,
    DEGREE_BLOCKS,
    FEATURES,
    KEY_SCALARS,
    KEYS,
    key_features,
    key_scores,
)

E, Q = TICKS_PER_BEAT // 2, TICKS_PER_BEAT


def call(*notes: tuple[int, int], start: int = 0) -> list[NoteEvent]:
    tick, events = start, []
    for pitch, ticks in notes:
        events += [NoteEvent(tick, pitch, 90), NoteEvent(tick + ticks, pitch, 0)]
        tick += ticks
    return events


def block(features: np.ndarray, name: str, key: tuple[int, str]) -> np.ndarray:
    """The 12 degrees of one block for one key, from its tonic up."""
    at = DEGREE_BLOCKS.index(name) * 24 + 12 * (key[1] == "minor")
    return features[KEYS.index(key), at:at + 12]


def scalar(features: np.ndarray, name: str, key: tuple[int, str]) -> float:
    names = (*KEY_SCALARS, *CALL_SCALARS)
    return float(features[KEYS.index(key), len(DEGREE_BLOCKS) * 24 + names.index(name)])


# G (a beat), A, B, B, C (eighths), D (a beat): C alone is never struck on a beat.
PHRASE = call((67, Q), (69, E), (71, E), (71, E), (72, E), (74, Q))


def test_notes_on_the_beat_are_read_apart_and_a_phrase_a_beat_later_reads_the_same():
    features = key_features(PHRASE)
    assert features.shape == (24, FEATURES) == (24, key_weights.WEIGHTS.shape[0])
    on_beat = block(features, "on_beat", (7, "major"))  # degrees of G major
    assert on_beat[5] == 0 and (on_beat[[0, 2, 4, 7]] > 0).all()  # C: the 4th degree
    assert block(features, "share", (7, "major"))[5] > 0
    assert block(features, "first_on_beat", (7, "major"))[0] == 1.0
    assert block(features, "last_on_beat", (7, "major"))[7] == 1.0  # D, the fifth
    later = key_features(call((67, Q), (69, E), (71, E), (71, E), (72, E), (74, Q), start=Q))
    assert np.allclose(later, features)
    # half a beat later the beats fall on other notes, and the finder hears that
    shifted = key_features(call((67, Q), (69, E), (71, E), (71, E), (72, E), (74, Q),
                                start=E))
    assert not np.allclose(block(shifted, "on_beat", (7, "major")), on_beat)


def test_a_leading_note_rising_to_the_tonic_and_a_fifth_falling_to_it_are_counted():
    cadence = key_features(call((67, Q), (71, E), (72, E), (67, E), (60, Q)))
    assert scalar(cadence, "leading_note_up", (0, "major")) == 1 / 4  # B up to C
    assert scalar(cadence, "fifth_to_tonic", (0, "major")) == 1 / 4  # G down to C
    assert scalar(cadence, "leading_note_up", (7, "major")) == 0.0
    # the same steps read from another tonic are not a cadence into it
    assert scalar(cadence, "step_to_tonic", (0, "major")) == 1 / 4
    assert scalar(cadence, "pitch_classes", (0, "major")) == 3 / 12


def test_the_note_after_the_longest_and_the_last_long_note_are_marked():
    features = key_features(call((62, E), (67, 2 * Q), (66, E), (64, E), (67, Q), (69, E)))
    assert block(features, "longest", (7, "major"))[0] == 1.0  # G
    assert block(features, "after_longest", (7, "major"))[11] == 1.0  # F#, after it
    assert block(features, "last_long", (7, "major"))[0] == 1.0  # the last G: a beat long
    assert block(features, "last", (7, "major"))[2] == 1.0  # A, an eighth


def test_every_key_is_scored_by_the_same_function_of_its_own_features():
    features = key_features(PHRASE)
    scores = key_scores(features)
    one_by_one = [key_scores(features[k:k + 1])[0] for k in range(24)]
    assert np.allclose(scores, one_by_one) and np.isfinite(scores).all()
