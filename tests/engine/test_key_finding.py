"""`--scale auto`: the key of a call, and an answer held to it and near it."""

from __future__ import annotations

import pytest

from antiphon.engine.constraints import PitchRules, scale_pitch_classes
from antiphon.engine.events import NoteEvent
from antiphon.engine.key_finding import find_key, pitch_class_weights, rules_for_call
from antiphon.engine.session import open_session


def call(*notes: tuple[int, int]) -> list[NoteEvent]:
    """(pitch, ticks) notes, one after another."""
    tick, events = 0, []
    for pitch, ticks in notes:
        events += [NoteEvent(tick, pitch, 90), NoteEvent(tick + ticks, pitch, 0)]
        tick += ticks
    return events


D_MAJOR_CALL = call((62, 12), (64, 12), (66, 12), (67, 12), (69, 24), (66, 12), (64, 12))
A_MINOR_CALL = call((69, 12), (72, 12), (76, 12), (74, 12), (72, 12), (71, 12), (69, 24))
A_HARMONIC_CALL = call((69, 12), (71, 12), (72, 12), (76, 12), (77, 12), (80, 12), (81, 24))
CHROMATIC_CALL = call(*((pitch, 12) for pitch in range(60, 67)))


@pytest.mark.parametrize(("events", "name"), [
    (D_MAJOR_CALL, "D major"),  # the profiles alone lean to A major, which lacks its G
    (A_MINOR_CALL, "A minor"),
    (A_HARMONIC_CALL, "A harmonic-minor"),  # the G# of the harmonic minor
    (call((60, 12), (64, 12), (67, 24)), "C major"),
])
def test_a_diatonic_call_has_a_clear_key(events, name):
    key = find_key(events)
    assert key is not None and key.clear and key.name == name
    assert key.fit == 1.0


@pytest.mark.parametrize("events", [CHROMATIC_CALL, call((60, 24)), call((60, 12), (67, 12))])
def test_a_chromatic_or_too_short_call_has_none(events):
    assert not find_key(events).clear


def test_weights_are_sounding_time_and_a_held_note_counts():
    weights = pitch_class_weights([NoteEvent(0, 60, 90), NoteEvent(30, 60, 0),
                                   NoteEvent(30, 74, 90)])
    assert weights[0] == 30 and weights[2] == 24 and weights.sum() == 54
    assert find_key([]) is None


def test_rules_keep_the_key_and_an_octave_around_the_call_within_the_configured_ones():
    rules, chosen = rules_for_call(D_MAJOR_CALL, PitchRules(lowest=55, max_polyphony=2))
    assert rules.pitch_classes == scale_pitch_classes("D major")
    assert (rules.lowest, rules.highest, rules.max_polyphony) == (55, 81, 2)
    assert "D major" in chosen
    # A configured scale stays: only its notes the key shares are left.
    narrowed, _ = rules_for_call(D_MAJOR_CALL, PitchRules(
        pitch_classes=scale_pitch_classes("D minor-pentatonic")))
    assert narrowed.pitch_classes == scale_pitch_classes("D minor-pentatonic") & \
        scale_pitch_classes("D major")
    # A call outside the configured range: the configured range stands.
    high, _ = rules_for_call(call((100, 12), (102, 12), (104, 12)), PitchRules(highest=80))
    assert (high.lowest, high.highest) == (0, 80)


def test_the_shipped_model_strays_from_the_calls_key_unless_held_to_it():
    """What `--scale auto` is for: left alone, the default model strikes notes outside a
    diatonic call's scale and far from it; held by the call's rules, none."""
    from antiphon.exported_models import default_model_path

    key_classes = scale_pitch_classes("D major")
    strays, held = [], []
    for seed in range(4):
        for rules, struck in ((None, strays), (rules_for_call(D_MAJOR_CALL, PitchRules())[0],
                                               held)):
            session = open_session(default_model_path(), device="cpu", seed=seed)
            session.observe(D_MAJOR_CALL)
            answer = session.generate(120, 16 * 24, temperature=1.3, rules=rules)
            struck += [event.pitch for event in answer if event.velocity]
    assert any(pitch % 12 not in key_classes for pitch in strays), strays
    assert held and all(pitch % 12 in key_classes and 50 <= pitch <= 81 for pitch in held)
