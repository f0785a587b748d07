"""The texture of a call (engine/texture.py), and the polyphony rule it sets an answer."""

from __future__ import annotations

import pytest

from antiphon.engine.constraints import PitchRules
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.texture import LEGATO_TICKS, call_texture, rules_for_answer, rules_for_texture

Q = TICKS_PER_BEAT


def notes(*spec: tuple[int, int, int]) -> list[NoteEvent]:
    """(start tick, length in ticks, pitch) notes, as the events a call holds."""
    events = []
    for start, length, pitch in spec:
        events += [NoteEvent(start, pitch, 90), NoteEvent(start + length, pitch, 0)]
    return sorted(events, key=lambda e: (e.tick, e.velocity > 0))


def line(pitches, step=Q, length=Q) -> list[NoteEvent]:
    return notes(*((i * step, length, pitch) for i, pitch in enumerate(pitches)))


SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def test_a_detached_line_is_a_melody():
    found = call_texture(line(SCALE, length=Q // 2))
    assert (found.kind, found.voices, found.share) == ("melody", 1, 0.0)


def test_a_line_played_legato_is_a_melody():
    # Each note let go 1/8 beat after the next is struck, as a player's legato.
    found = call_texture(line(SCALE, length=Q + LEGATO_TICKS))
    assert (found.kind, found.voices) == ("melody", 1)


def test_overlaps_longer_than_legato_through_the_line_are_two_voices():
    found = call_texture(line(SCALE, length=Q + Q // 2))  # half a beat over the next
    assert (found.kind, found.voices) == ("chords", 2)


def test_one_long_overlap_in_a_line_does_not_make_it_chords():
    # A single note held a beat over the next, in eight beats of line: under CHORD_SHARE.
    spec = [(i * Q, Q, pitch) for i, pitch in enumerate(SCALE)]
    spec[3] = (3 * Q, 2 * Q, 65)
    assert call_texture(notes(*spec)).kind == "melody"


def test_block_chords_are_chords_with_the_calls_most_voices():
    chords = notes(*[(0, 2 * Q, p) for p in (60, 64, 67)],
                   *[(2 * Q, 2 * Q, p) for p in (62, 65, 69, 72)],
                   *[(4 * Q, 2 * Q, p) for p in (60, 64, 67)])
    found = call_texture(chords)
    assert (found.kind, found.voices) == ("chords", 4)
    assert found.share == pytest.approx(1.0)


def test_a_melody_over_a_held_bass_note_is_two_voices():
    call = notes((0, 8 * Q, 48), *((i * Q, Q, p) for i, p in enumerate(SCALE)))
    found = call_texture(call)
    assert (found.kind, found.voices) == ("chords", 2)


def test_a_note_held_past_the_calls_end_sounds_to_its_end():
    # The bass note's release never came (held by the pedal): it sounds under the line.
    call = [NoteEvent(0, 48, 80)] + line(SCALE)
    assert call_texture(sorted(call, key=lambda e: e.tick)).kind == "chords"


def test_a_call_without_notes_has_no_texture():
    assert call_texture([]) is None
    assert call_texture([NoteEvent(0, 60, 0)]) is None


def test_auto_holds_a_melodys_answer_to_one_voice():
    rules, chosen = rules_for_texture(line(SCALE), PitchRules(texture="auto"))
    assert rules.max_polyphony == 1 and chosen == "melody: one voice"


def test_auto_lets_a_chord_call_have_chords_up_to_its_own_and_the_configured_most():
    chords = notes(*[(0, 2 * Q, p) for p in (60, 64, 67)], *[(2 * Q, 2 * Q, p) for p in (62, 65)])
    rules, chosen = rules_for_texture(chords, PitchRules(texture="auto"))
    assert rules.max_polyphony == 3 and chosen.startswith("chords") and "up to 3" in chosen
    rules, _ = rules_for_texture(chords, PitchRules(texture="auto", max_polyphony=2))
    assert rules.max_polyphony == 2


def test_melody_and_chords_do_not_look_at_the_call():
    chords = notes(*[(0, 2 * Q, p) for p in (60, 64, 67)])
    assert rules_for_texture(chords, PitchRules(texture="melody"))[0].max_polyphony == 1
    base = PitchRules(texture="chords", max_polyphony=5)
    assert rules_for_texture(line(SCALE), base) == (base, "chords: up to 5 voices")


def test_a_bad_texture_is_refused():
    with pytest.raises(ValueError, match="texture must be one of auto, melody, chords"):
        PitchRules(texture="bogus")


def test_the_answers_rules_keep_the_key_and_range_and_the_texture():
    rules, chosen = rules_for_answer(line(SCALE), PitchRules(texture="auto"), follow_key=True)
    assert rules.max_polyphony == 1 and (rules.lowest, rules.highest) == (48, 84)
    assert chosen.startswith("melody: one voice; ") and "range 48..84" in chosen
    rules, chosen = rules_for_answer(line(SCALE), PitchRules(texture="auto"), follow_key=False)
    assert (rules.lowest, rules.highest, chosen) == (0, 127, "melody: one voice")
