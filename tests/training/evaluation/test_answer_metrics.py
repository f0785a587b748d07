"""The measures of `antiphon eval answers` on notes whose values are worked out by hand, the
relevance AUC on constructed cases, and calls cut from tunes."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("muspy")

from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.training.evaluation.answer_calls import (  # noqa: E402
    events_to_notes,
    in_any_key,
    pair_of,
    spread_choice,
)
from antiphon.training.evaluation.answer_metrics import (  # noqa: E402
    cosine_matrix,
    floor_auc,
    in_key_share,
    measure,
    relevance_auc,
)
from antiphon.training.evaluation.key_calls import Tune, TuneKey  # noqa: E402

BEAT = 24
BAR = 4 * BEAT
C_MAJOR = TuneKey(0, "major")


def line(pitches, beats=1.0, start=0):
    """One note after another, each `beats` long."""
    step = round(beats * BEAT)
    return np.array([(start + i * step, start + (i + 1) * step, p)
                     for i, p in enumerate(pitches)], np.int64)


def test_a_c_major_scale_over_two_bars():
    values = measure(line([60, 62, 64, 65, 67, 69, 71, 72]), 2 * BAR, BAR, C_MAJOR)
    assert values["notes_per_beat"] == 1.0
    assert values["polyphony"] == 1.0
    assert values["scale_consistency"] == 1.0
    assert values["in_key"] == 1.0
    assert values["mean_pitch"] == 530 / 8
    assert values["pitch_range"] == 12
    # C twice, six other pitch classes once: -(1/4 log2 1/4 + 6/8 log2 1/8) = 0.5 + 2.25
    assert values["pitch_class_entropy"] == pytest.approx(2.75)
    assert values["groove_consistency"] == 1.0  # the same four onsets in both bars


def test_a_held_triad_sounds_three_notes_at_once():
    triad = np.array([(0, BAR, 60), (0, BAR, 64), (0, BAR, 67)], np.int64)
    values = measure(triad, BAR, BAR, C_MAJOR)
    assert values["polyphony"] == 3.0
    assert values["notes_per_beat"] == 3 / 4
    assert values["pitch_range"] == 7


def test_groove_compares_the_bars_measured_and_no_more():
    # Bar 1: four onsets; bar 2: one. Three of 96 positions differ.
    notes = np.concatenate([line([60, 62, 64, 65]), line([67], beats=4, start=BAR)])
    assert measure(notes, 2 * BAR, BAR, C_MAJOR)["groove_consistency"] == 1 - 3 / 96
    # Silence in bar 2 is still a bar to compare with (MusPy alone would see one bar).
    assert measure(line([60, 62, 64, 65]), 2 * BAR, BAR, C_MAJOR)[
        "groove_consistency"] == 1 - 4 / 96


def test_the_key_share_weighs_notes_by_time_and_minor_is_natural_minor():
    # C (3 beats) in C minor's scale, E (1 beat) not: 3/4 of the note-time.
    notes = np.array([(0, 72, 60), (72, 96, 64)], np.int64)
    assert in_key_share(notes, TuneKey(0, "minor")) == 0.75
    assert in_key_share(notes, C_MAJOR) == 1.0
    # A natural minor: G natural is in it, G sharp is not.
    assert in_key_share(line([67]), TuneKey(9, "minor")) == 1.0
    assert in_key_share(line([68]), TuneKey(9, "minor")) == 0.0


def test_silence_has_no_values_but_its_density():
    values = measure(np.zeros((0, 3), np.int64), 2 * BAR, BAR, C_MAJOR)
    assert values["notes_per_beat"] == 0.0
    for name in ("polyphony", "pitch_class_entropy", "scale_consistency", "in_key",
                 "mean_pitch", "pitch_range", "groove_consistency"):
        assert math.isnan(values[name]), name


def test_identical_profiles_are_told_apart_perfectly():
    reals = [line([60 + i]) for i in range(4)]  # one pitch class each: orthogonal
    assert relevance_auc(cosine_matrix(reals, reals)) == 1.0


def test_one_answer_for_every_call_tells_nothing():
    reals = [line([60 + i]) for i in range(4)]
    assert relevance_auc(cosine_matrix([line([60, 61, 62, 63])] * 4, reals)) == 0.5


def test_answering_with_the_next_calls_continuation():
    reals = [line([60 + i]) for i in range(3)]
    borrowed = reals[1:] + reals[:1]
    # Each row: own 0, one other 1 (a loss), one other 0 (a tie): 0.5 of 2 pairs.
    assert relevance_auc(cosine_matrix(borrowed, reals)) == 0.25
    # The floor leaves out the pair with the copied continuation: ties alone.
    assert floor_auc(reals) == 0.5


def test_silence_is_like_nothing():
    assert cosine_matrix([np.zeros((0, 3), np.int64)], [line([60])])[0, 0] == 0.0
    assert math.isnan(relevance_auc(np.ones((1, 1))))


def test_a_call_and_its_continuation_cut_from_a_tune_with_a_pickup():
    pickup = line([55], start=0)  # one beat before the first full bar
    body = line([60 + i % 12 for i in range(16)], start=BEAT)  # four bars of beats
    notes = np.concatenate([pickup, body])
    tune = Tune("t", notes, BAR, np.array([0, BEAT, BEAT + BAR, BEAT + 2 * BAR,
                                           BEAT + 3 * BAR, BEAT + 4 * BAR]))
    pair = pair_of(tune, "hand", bars=2)
    assert pair.start_tick == BEAT + 2 * BAR and pair.length_ticks == 2 * BAR
    assert len(pair.call_notes) == 9 and pair.single_line
    assert pair.real[:, 2].tolist() == [60 + i % 12 for i in range(8, 16)]
    assert pair.real[0, 0] == 0 and pair.real[-1, 1] == 2 * BAR
    short = Tune("s", notes[:12], BAR, tune.measure_starts)  # ends in its third bar
    assert pair_of(short, "hand", bars=2) is None


def test_a_call_of_chords_is_not_a_single_line():
    chords = np.array([(0, 192, 48), (0, 96, 60), (96, 192, 62), (192, 384, 60),
                       (384, 768, 60)], np.int64)
    pair = pair_of(Tune("c", chords, BAR, np.arange(6) * BAR), "hand", bars=2)
    assert not pair.single_line


def test_a_legato_line_is_still_a_single_line():
    legato = line([60, 62, 64, 65, 67, 69, 71, 72] * 2)
    legato[:, 1] += 2  # each note let go just after the next is struck
    pair = pair_of(Tune("l", legato, BAR, np.arange(6) * BAR), "hand", bars=2)
    assert pair.single_line


def test_answer_events_become_notes_from_the_answer_start():
    events = [NoteEvent(100, 60, 80), NoteEvent(110, 64, 80), NoteEvent(124, 60, 0),
              NoteEvent(140, 64, 0)]
    assert events_to_notes(events, 100).tolist() == [[0, 24, 60], [10, 40, 64]]


def test_the_choice_of_calls_is_spread_and_fixed():
    assert spread_choice(list(range(10)), 3) == [0, 4, 9]  # linspace 0, 4.5, 9 rounded
    assert spread_choice(list(range(2)), 5) == [0, 1]


def test_calls_in_any_key_move_with_their_continuations_and_keys():
    tunes = [Tune(f"t{i}", line([60 + i + (j % 5) for j in range(16)]), BAR,
                  np.arange(0, 5 * BAR, BAR)) for i in range(12)]
    pairs = [pair_of(tune, "hand", bars=2) for tune in tunes]
    moved = in_any_key(pairs, seed=3)
    again = in_any_key(pairs, seed=3)  # the same draw for every model
    assert all((a.real == b.real).all() for a, b in zip(moved, again, strict=True))
    shifts = []
    for pair, other in zip(pairs, moved, strict=True):
        shift = int(other.real[0, 2] - pair.real[0, 2])
        shifts.append(shift)
        assert -5 <= shift <= 6
        assert (other.call_notes[:, 2] - pair.call_notes[:, 2] == shift).all()
        assert (other.real[:, :2] == pair.real[:, :2]).all()  # time is untouched
        assert [e.pitch - shift for e in other.call] == [e.pitch for e in pair.call]
        assert other.key == TuneKey((pair.key.tonic + shift) % 12, pair.key.mode)
    assert len(set(shifts)) > 3  # keys drawn, not one shift for all
    high = pair_of(Tune("h", line([120 + j % 8 for j in range(16)]), BAR,
                        np.arange(0, 5 * BAR, BAR)), "hand", bars=2)
    for each in in_any_key([high] * 20, seed=1):
        assert each.real[:, 2].max() <= 127 and each.call_notes[:, 2].max() <= 127
