"""Scale, range and polyphony rules on generated answers, on a real exported model."""

from __future__ import annotations

import pytest
from music_checks import assert_well_formed

from antiphon.engine.constraints import PitchRules, scale_pitch_classes
from antiphon.engine.events import NoteEvent
from antiphon.engine.session import Engine


def test_scale_names():
    assert scale_pitch_classes("C major") == {0, 2, 4, 5, 7, 9, 11}
    assert scale_pitch_classes("a minor") == {9, 11, 0, 2, 4, 5, 7}
    assert scale_pitch_classes("Bb blues") == {10, 1, 3, 4, 5, 8}
    assert scale_pitch_classes("chromatic") == set(range(12))
    with pytest.raises(ValueError, match="tonic"):
        scale_pitch_classes("H major")
    with pytest.raises(ValueError, match="modes"):
        scale_pitch_classes("C lydian-dominant")


def test_rules_are_checked():
    with pytest.raises(ValueError, match="range"):
        PitchRules(lowest=70, highest=60)
    with pytest.raises(ValueError, match="max_polyphony"):
        PitchRules(max_polyphony=0)
    with pytest.raises(ValueError, match="no pitch"):
        PitchRules(lowest=61, highest=61, pitch_classes=scale_pitch_classes("C major"))
    allowed = PitchRules(lowest=60, highest=72,
                         pitch_classes=scale_pitch_classes("C major")).allowed_pitches()
    assert [p for p in range(128) if allowed[p]] == [60, 62, 64, 65, 67, 69, 71, 72]


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    return Engine.load(tiny_model_path)


def answers(engine, rules, count=25):
    for seed in range(count):
        session = engine.new_session(seed=seed)
        session.observe([NoteEvent(0, 61, 80), NoteEvent(12, 61, 0)])  # a C#: off the scale
        answer = list(session.generate(48, 96, temperature=1.5, rules=rules))
        assert_well_formed(answer, 48, 144)
        yield answer


def test_answers_stay_in_the_scale_and_range(engine):
    rules = PitchRules(lowest=55, highest=79, pitch_classes=scale_pitch_classes("D dorian"))
    struck = [e.pitch for answer in answers(engine, rules) for e in answer if e.velocity]
    assert struck, "the model played nothing"
    assert all(55 <= p <= 79 and p % 12 in rules.pitch_classes for p in struck)


def most_notes_at_once(answer) -> int:
    sounding, most = set(), 0
    for event in answer:
        (sounding.add if event.velocity else sounding.discard)(event.pitch)
        most = max(most, len(sounding))
    return most


def test_polyphony_is_bounded(engine):
    most = max(most_notes_at_once(a) for a in answers(engine, PitchRules(max_polyphony=2)))
    assert 1 <= most <= 2


def test_without_rules_the_model_plays_outside_them(engine):
    """The constraint tests above would pass vacuously if this model never left the scale."""
    struck = [e.pitch for answer in answers(engine, None) for e in answer if e.velocity]
    assert any(p % 12 not in scale_pitch_classes("D dorian") for p in struck)


def test_without_rules_the_model_plays_chords(engine):
    """The polyphony test above would pass vacuously if this model never played chords."""
    assert max(most_notes_at_once(a) for a in answers(engine, None)) > 2


@pytest.mark.parametrize("scale", ["C ionian", "D dorian", "E phrygian", "F lydian",
                                   "G mixolydian", "A aeolian", "B locrian"])
def test_the_seven_church_modes_are_the_white_keys_from_each_degree(scale):
    assert scale_pitch_classes(scale) == scale_pitch_classes("C major")


def test_church_modes_keep_their_tonic_and_character():
    assert scale_pitch_classes("D lydian") == frozenset({2, 4, 6, 8, 9, 11, 1})  # G#, raised 4th
    assert scale_pitch_classes("E phrygian") >= {4, 5}  # the flat second above E
    assert 6 in scale_pitch_classes("C locrian")  # the diminished fifth
