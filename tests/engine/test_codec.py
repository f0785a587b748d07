from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antiphon.engine.codec import EventCodec, EventCodecConfig, EventDecoder
from antiphon.engine.events import NoteEvent, note_event_from_bytes, sort_events

codec = EventCodec()

pitches = st.integers(0, 127)
velocities = st.integers(1, 127)


@st.composite
def performances(draw):
    """Event streams as a player makes them: chords, overlaps, re-struck notes, long gaps."""
    events, tick = [], 0
    for _ in range(draw(st.integers(0, 60))):
        tick += draw(st.one_of(st.just(0), st.integers(1, 30), st.integers(31, 400)))
        pitch = draw(pitches)
        # velocity 0: a note-off (as a zero-velocity note-on would decode)
        velocity = draw(st.one_of(st.just(0), velocities))
        events.append(NoteEvent(tick, pitch, codec.quantize_velocity(velocity)))
    return events


@settings(max_examples=300)
@given(performances())
def test_round_trip_is_lossless_on_the_grid(events):
    assert codec.decode(codec.encode(events)) == events


@given(performances(), st.integers(0, 1000))
def test_round_trip_from_an_offset(events, offset):
    shifted = [NoteEvent(e.tick + offset, e.pitch, e.velocity) for e in events]
    assert codec.decode(codec.encode(shifted, start_tick=offset), start_tick=offset) == shifted


def test_chord_overlap_restrike_and_zero_velocity_note_on():
    messages = [
        ([0x90, 60, 100], 0), ([0x90, 64, 100], 0), ([0x90, 67, 100], 0),  # chord
        ([0x90, 72, 90], 12),  # overlaps the chord
        ([0x90, 60, 100], 24),  # 60 re-struck while sounding
        ([0x90, 60, 0], 36),  # zero-velocity note-on = note-off
        ([0x80, 64, 40], 36), ([0x80, 67, 0], 36), ([0x80, 72, 0], 48), ([0x80, 60, 0], 48),
    ]
    events = [note_event_from_bytes(data, tick) for data, tick in messages]
    quantised = [NoteEvent(e.tick, e.pitch, codec.quantize_velocity(e.velocity)) for e in events]
    assert events[5] == NoteEvent(36, 60, 0)
    assert codec.decode(codec.encode(quantised)) == quantised


def test_velocity_bins_partition_the_midi_range():
    bins = [codec.velocity_bin(v) for v in range(1, 128)]
    assert bins == sorted(bins) and set(bins) == set(range(codec.config.velocity_bins))
    for b in range(codec.config.velocity_bins):
        assert codec.velocity_bin(codec.bin_velocity(b)) == b


def test_velocity_token_only_when_bin_changes():
    events = [NoteEvent(0, 60, 100), NoteEvent(0, 64, 100), NoteEvent(0, 67, 30)]
    names = [codec.token_name(t) for t in codec.encode(events)]
    assert [n for n in names if n.startswith("VELOCITY")] == [
        f"VELOCITY_{codec.velocity_bin(100)}", f"VELOCITY_{codec.velocity_bin(30)}"]


def test_long_silences_chain_shift_tokens():
    tokens = codec.encode([NoteEvent(130, 60, 64)])
    shifts = [codec.shift_ticks(t) for t in tokens if codec.shift_ticks(t)]
    assert shifts == [48, 48, 34]


def test_time_may_not_go_back():
    with pytest.raises(ValueError, match="back in time"):
        codec.encode([NoteEvent(10, 60, 64), NoteEvent(5, 60, 0)])


def test_vocabulary_names_are_unique_and_ordered_by_kind():
    vocab = codec.vocabulary()
    assert len(vocab) == len(set(vocab)) == codec.vocab_size
    assert vocab[0] == "BOS" and vocab[1] == "NOTE_ON_0" and vocab[-1].startswith("VELOCITY_")


def test_decoder_rejects_tokens_outside_the_vocabulary():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        EventDecoder(codec).feed(codec.vocab_size)


def test_config_json_round_trip_and_validation():
    config = EventCodecConfig(max_shift_ticks=24, velocity_bins=8)
    assert EventCodecConfig.from_json(config.to_json()) == config
    assert EventCodec(config).vocab_size == 1 + 128 + 128 + 24 + 8
    with pytest.raises(ValueError, match="version"):
        EventCodecConfig.from_dict({**json.loads(config.to_json()), "version": 99})
    with pytest.raises(ValueError, match="unknown"):
        EventCodecConfig.from_dict({"pitch_range": 88})
    with pytest.raises(ValueError, match="velocity_bins"):
        EventCodecConfig(velocity_bins=0)


def test_sort_events_releases_before_strikes_at_the_same_tick():
    events = sort_events([NoteEvent(12, 60, 80), NoteEvent(12, 60, 0), NoteEvent(0, 60, 80)])
    assert events == [NoteEvent(0, 60, 80), NoteEvent(12, 60, 0), NoteEvent(12, 60, 80)]


def test_note_event_validation():
    with pytest.raises(ValueError, match="pitch"):
        NoteEvent(0, 128, 10)
    with pytest.raises(ValueError, match="velocity"):
        NoteEvent(0, 60, 200)
    assert note_event_from_bytes([0xB0, 64, 127], 0) is None  # a control change is no note


@pytest.mark.parametrize("message", [[0x90, 200, 100], [0x90, 60, 255], [0x80, 128, 0],
                                     [0x90, 60], [0x90], []])
def test_malformed_note_messages_are_ignored_not_fatal(message):
    assert note_event_from_bytes(message, 0) is None
