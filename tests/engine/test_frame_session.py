"""Piano-roll models play: a FrameSession hears the player on the model's frame grid and
answers with frames drawn key by key inside the graph (a small RNN-NADE of chords)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fixtures import CHORDS

from antiphon.engine.constraints import PitchRules
from antiphon.engine.events import NoteEvent
from antiphon.engine.frame_session import FrameSession
from antiphon.engine.session import open_session

TICKS_PER_FRAME = 12  # the chord model has 2 frames per beat
CALL = [NoteEvent(0, 60, 90), NoteEvent(0, 62, 90), NoteEvent(0, 64, 90),
        NoteEvent(24, 60, 0), NoteEvent(24, 62, 0), NoteEvent(24, 64, 0)]


def sounding_frames(answer: list[NoteEvent], start: int, frames: int) -> np.ndarray:
    """bool [frames, 8]: which of MIDI 60-67 sound in each frame of an answer."""
    roll = np.zeros((frames, 8), dtype=bool)
    on: dict[int, int] = {}
    for event in answer:
        if event.velocity:
            on[event.pitch] = event.tick
        else:
            first = (on.pop(event.pitch) - start) // TICKS_PER_FRAME
            roll[first:(event.tick - start) // TICKS_PER_FRAME, event.pitch - 60] = True
    assert not on, "a note-on without its note-off"
    return roll


def answer(session, start=36, frames=16, **options) -> list[NoteEvent]:
    session.observe(CALL)
    return list(session.generate(start, frames * TICKS_PER_FRAME, **options))


def test_open_session_picks_the_frame_session(chord_model_path):
    assert isinstance(open_session(chord_model_path, device="cpu", seed=0), FrameSession)


def test_an_answer_is_well_formed_and_plays_the_chords_it_learned(chord_model_path):
    session = open_session(chord_model_path, device="cpu", seed=1)
    events = answer(session, temperature=0.7)
    ticks = [e.tick for e in events]
    assert ticks == sorted(ticks) and ticks[0] >= 36 and ticks[-1] <= 36 + 16 * 12
    assert all(t % TICKS_PER_FRAME == 0 for t in ticks)  # on the model's frame grid
    roll = sounding_frames(events, 36, 16)
    chords = {tuple(chord) for chord in CHORDS}
    as_chords = [tuple(np.flatnonzero(frame)) in chords for frame in roll]
    # Independent Bernoulli keys would rarely land on exactly one of four triads; the
    # NADE's key-by-key draw does, most of the time.
    assert np.mean(as_chords) > 0.6
    assert session.tick == 36 + 16 * 12


def test_rules_mask_keys_and_cap_polyphony(chord_model_path):
    session = open_session(chord_model_path, device="cpu", seed=2)
    rules = PitchRules(lowest=0, highest=127, pitch_classes=frozenset({0, 2, 4, 5, 7}),
                       max_polyphony=2)  # C major, two notes at most
    roll = sounding_frames(answer(session, rules=rules), 36, 16)
    assert roll.any()
    assert not roll[:, [1, 3, 6]].any()  # C#, D#, F# are not in the scale
    assert roll.sum(axis=1).max() <= 2


def test_no_opening_rest_when_none_is_allowed(chord_model_path):
    for seed in range(5):
        session = open_session(chord_model_path, device="cpu", seed=seed)
        roll = sounding_frames(answer(session, temperature=3.0, max_opening_rest_ticks=0),
                               36, 16)
        assert roll[0].any()


def test_rewind_to_the_answers_start_forgets_it(chord_model_path):
    session = open_session(chord_model_path, device="cpu", seed=3)
    session.observe(CALL)
    session.advance_to(36)
    before = [np.array(s, copy=True) for s in session._state]
    events = list(session.generate(36, 8 * TICKS_PER_FRAME))
    assert events
    session.rewind(36)
    assert session.tick == 36
    for kept, now in zip(before, session._state, strict=True):
        np.testing.assert_array_equal(kept, now)
    assert list(session.generate(36, 4 * TICKS_PER_FRAME))  # and it answers again


def test_bad_arguments(chord_model_path):
    session = open_session(chord_model_path, device="cpu", seed=0)
    for options in ({"temperature": 0}, {"top_p": 0.0}):
        with pytest.raises(ValueError):
            next(session.generate(0, 24, **options))


def test_a_soft_call_gets_a_soft_answer(chord_model_path):
    """Frames carry no dynamics: the answer plays at the call's mean loudness."""
    loudness = {}
    for velocity in (30, 110):
        session = open_session(chord_model_path, device="cpu", seed=1)
        session.observe([NoteEvent(event.tick, event.pitch, velocity if event.velocity else 0)
                         for event in CALL])
        strikes = [e.velocity for e in session.generate(36, 16 * TICKS_PER_FRAME) if e.velocity]
        assert strikes
        loudness[velocity] = set(strikes)
    assert loudness == {30: {30}, 110: {110}}


def test_an_answer_without_a_call_keeps_the_last_loudness(chord_model_path):
    session = open_session(chord_model_path, device="cpu", seed=1)
    session.observe([NoteEvent(0, 60, 20), NoteEvent(0, 64, 40), NoteEvent(24, 60, 0),
                     NoteEvent(24, 64, 0)])
    list(session.generate(36, 8 * TICKS_PER_FRAME))
    again = [e.velocity for e in session.generate(36 + 8 * TICKS_PER_FRAME, 8 * TICKS_PER_FRAME)
             if e.velocity]
    assert again and set(again) == {30}  # the mean of 20 and 40, from the call before
