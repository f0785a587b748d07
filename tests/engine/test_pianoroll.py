from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antiphon.engine.events import NoteEvent, sort_events
from antiphon.engine.pianoroll import (
    DEFAULT_VELOCITY,
    HELD,
    SILENT,
    STRUCK,
    PianoRollCodec,
    PianoRollCodecConfig,
    fold_restrikes,
    onsets,
    sounding,
)

codec = PianoRollCodec()  # 88 keys from A0, sixteenths: 6 ticks per frame
C4 = 60
C4_KEY = C4 - 21


@st.composite
def grid_pieces(draw, restrikes: bool = True):
    """(config, events, start tick): notes on the frame grid, at least a frame long, in range,
    with re-strikes (a note starting on the frame where the same key's last note ends)."""
    config = PianoRollCodecConfig(frames_per_beat=draw(st.sampled_from([1, 2, 3, 4, 6, 8, 24])),
                                  distinguish_onsets=restrikes)
    step = config.ticks_per_frame
    start_tick = draw(st.integers(0, 500))
    events = []
    for pitch in draw(st.sets(st.integers(config.lowest_pitch, config.highest_pitch),
                              max_size=6)):
        frame = 0
        for _ in range(draw(st.integers(1, 5))):
            frame += draw(st.integers(0 if restrikes else 1, 6))  # gap before the note
            length = draw(st.integers(1, 8))
            events += [NoteEvent(start_tick + frame * step, pitch, DEFAULT_VELOCITY),
                       NoteEvent(start_tick + (frame + length) * step, pitch, 0)]
            frame += length
    return config, sort_events(events), start_tick


@settings(max_examples=200)
@given(grid_pieces())
def test_round_trip_is_lossless_on_the_grid(piece):
    config, events, start_tick = piece
    roll_codec = PianoRollCodec(config)
    frames = roll_codec.encode(events, start_tick=start_tick)
    assert frames.dtype == np.uint8 and frames.shape[1] == config.keys
    assert roll_codec.decode(frames, start_tick=start_tick) == events


@given(grid_pieces(restrikes=False))
def test_round_trip_without_onsets_is_lossless_when_nothing_is_restruck(piece):
    config, events, start_tick = piece
    roll_codec = PianoRollCodec(config)
    assert roll_codec.decode(roll_codec.encode(events, start_tick), start_tick) == events


@given(grid_pieces())
def test_without_onsets_restrikes_fold_into_holds(piece):
    config, events, _ = piece
    with_onsets = PianoRollCodec(config).encode(events)
    plain = PianoRollCodec(PianoRollCodecConfig(frames_per_beat=config.frames_per_beat,
                                                distinguish_onsets=False)).encode(events)
    np.testing.assert_array_equal(plain, fold_restrikes(with_onsets))
    np.testing.assert_array_equal(sounding(plain), sounding(with_onsets))


@given(st.lists(st.lists(st.integers(SILENT, HELD), min_size=3, max_size=3), max_size=20))
def test_every_decoded_note_on_has_a_note_off(rows):
    """Sampled frames may hold a key that was silent: the note still starts and ends."""
    small = PianoRollCodec(PianoRollCodecConfig(lowest_pitch=60, keys=3))
    frames = np.array(rows, dtype=np.uint8).reshape(-1, 3)
    events = small.decode(frames)
    assert events == sort_events(events)
    open_notes: set[int] = set()
    for event in events:
        if event.velocity:
            assert event.pitch not in open_notes
            open_notes.add(event.pitch)
        else:
            open_notes.remove(event.pitch)
    assert not open_notes
    assert sum(e.velocity > 0 for e in events) == int(onsets(frames).sum())


def test_restrike_is_note_off_and_note_on_at_the_frame():
    events = [NoteEvent(0, C4, 80), NoteEvent(6, C4, 0), NoteEvent(6, C4, 80),
              NoteEvent(18, C4, 0)]
    frames = codec.encode(events)
    assert frames[:, C4_KEY].tolist() == [STRUCK, STRUCK, HELD]
    assert codec.decode(frames) == events


def test_note_on_a_sounding_key_restrikes_it():
    frames = codec.encode([NoteEvent(0, C4, 80), NoteEvent(12, C4, 90), NoteEvent(24, C4, 0)])
    assert frames[:, C4_KEY].tolist() == [STRUCK, HELD, STRUCK, HELD]


def test_lowest_and_highest_keys():
    events = [NoteEvent(0, 21, 80), NoteEvent(0, 108, 80), NoteEvent(6, 21, 0),
              NoteEvent(6, 108, 0)]
    frames = codec.encode(events)
    assert frames.shape == (1, 88)
    assert frames[0, 0] == STRUCK and frames[0, 87] == STRUCK and frames[0, 1:87].sum() == 0
    assert codec.decode(frames) == events


@pytest.mark.parametrize("pitch", [20, 109])
def test_note_outside_the_key_range_is_refused(pitch):
    with pytest.raises(ValueError, match="outside the piano roll's range 21..108"):
        codec.encode([NoteEvent(0, pitch, 80), NoteEvent(6, pitch, 0)])


def test_off_grid_notes_snap_to_the_nearest_frame_and_last_at_least_one():
    events = [NoteEvent(2, C4, 80), NoteEvent(4, C4, 0),  # 2 ticks: one frame from 0
              NoteEvent(9, 64, 80), NoteEvent(22, 64, 0)]  # 9..22 ticks -> 12..24
    frames = codec.encode(events)
    assert frames[:, C4_KEY].tolist() == [STRUCK, SILENT, SILENT, SILENT]
    assert frames[:, 64 - 21].tolist() == [SILENT, SILENT, STRUCK, HELD]


def test_open_notes_end_at_end_tick_and_trailing_silence_is_kept():
    frames = codec.encode([NoteEvent(0, C4, 80)], end_tick=24)
    assert frames[:, C4_KEY].tolist() == [STRUCK, HELD, HELD, HELD]
    assert codec.encode([NoteEvent(0, C4, 80), NoteEvent(6, C4, 0)], end_tick=30).shape[0] == 5
    assert codec.encode([]).shape == (0, 88)
    with pytest.raises(ValueError, match="before the last event"):
        codec.encode([NoteEvent(12, C4, 80)], end_tick=6)
    with pytest.raises(ValueError, match="before start_tick"):
        codec.encode([NoteEvent(0, C4, 80)], start_tick=6)


def test_decode_uses_the_given_velocity_and_checks_frames():
    frames = np.zeros((2, 88), np.uint8)
    frames[0, C4_KEY] = STRUCK
    assert codec.decode(frames, velocity=100) == [NoteEvent(0, C4, 100), NoteEvent(6, C4, 0)]
    with pytest.raises(ValueError, match="velocity must be 1..127"):
        codec.decode(frames, velocity=0)
    with pytest.raises(ValueError, match=r"frames must be \[T, 88\]"):
        codec.decode(np.zeros((2, 87), np.uint8))
    with pytest.raises(ValueError, match="frame values"):
        codec.decode(np.full((1, 88), 3, np.uint8))


def test_sounding_and_onsets():
    frames = np.array([[STRUCK, HELD, SILENT],
                       [HELD, SILENT, HELD],  # key 2: a hold with nothing to hold starts a note
                       [STRUCK, STRUCK, HELD]], dtype=np.uint8)
    assert sounding(frames).tolist() == [[True, True, False], [True, False, True],
                                         [True, True, True]]
    # key 1 in frame 0: held from before the roll began, which nothing can be: a start.
    assert onsets(frames).tolist() == [[True, True, False], [False, False, True],
                                       [True, True, False]]


def test_config_round_trips_through_json_and_refuses_bad_values():
    config = PianoRollCodecConfig(lowest_pitch=36, keys=61, frames_per_beat=2,
                                  distinguish_onsets=False)
    assert PianoRollCodecConfig.from_json(config.to_json()) == config
    assert config.ticks_per_frame == 12 and config.highest_pitch == 96
    with pytest.raises(ValueError, match="frames_per_beat must divide 24"):
        PianoRollCodecConfig(frames_per_beat=5)
    with pytest.raises(ValueError, match="lowest_pitch must be 0..40"):
        PianoRollCodecConfig(lowest_pitch=41)
    with pytest.raises(ValueError, match="version 2 is not supported"):
        PianoRollCodecConfig(version=2)
    with pytest.raises(ValueError, match="unknown piano-roll codec fields"):
        PianoRollCodecConfig.from_dict({"keys": 88, "velocity": 80})
