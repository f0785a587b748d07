"""StreamParser: chunks of MIDI bytes in, whole messages out, by the MIDI 1.0 rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from antiphon.daemon.midi.wire import (
    StreamParser,
    channel_of,
    is_note,
    is_note_on,
    panic_messages,
)

CLOCK, START, STOP, ACTIVE_SENSING = 0xF8, 0xFA, 0xFC, 0xFE


def parse(*chunks) -> tuple[list[tuple[int, ...]], StreamParser]:
    """Feed `chunks` to one parser; all messages out, and the parser (for its stats)."""
    parser = StreamParser()
    out: list[tuple[int, ...]] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out, parser


# -- channel messages and running status ---------------------------------------------


def test_one_note_on_in_one_chunk():
    out, parser = parse([0x90, 60, 100])
    assert out == [(0x90, 60, 100)]
    assert parser.stats.stray_bytes == 0 and parser.stats.sysex == 0


def test_messages_come_out_as_tuples_whatever_the_chunk_type():
    out, _ = parse(bytes([0x90, 60, 100]), bytearray([0x80, 60, 0]), iter([0xB0, 7, 99]))
    assert out == [(0x90, 60, 100), (0x80, 60, 0), (0xB0, 7, 99)]
    assert all(type(message) is tuple for message in out)


def test_running_status_across_chunks():
    out, parser = parse([0x90, 60, 100], [62, 100])
    assert out == [(0x90, 60, 100), (0x90, 62, 100)]
    assert parser.stats.stray_bytes == 0


def test_running_status_within_one_chunk_and_note_on_velocity_zero():
    out, _ = parse([0x91, 60, 100, 60, 0, 64, 90, 64, 0])
    assert out == [(0x91, 60, 100), (0x91, 60, 0), (0x91, 64, 90), (0x91, 64, 0)]


def test_a_message_split_byte_by_byte_comes_out_once_its_last_byte_arrives():
    parser = StreamParser()
    assert list(parser.feed([0x9F])) == []
    assert list(parser.feed([127])) == []
    assert list(parser.feed([1])) == [(0x9F, 127, 1)]
    assert list(parser.feed([2])) == []
    assert list(parser.feed([3])) == [(0x9F, 2, 3)]


def test_a_new_status_replaces_the_running_status():
    out, _ = parse([0x90, 60, 100, 0x80, 60, 0, 61, 0])
    assert out == [(0x90, 60, 100), (0x80, 60, 0), (0x80, 61, 0)]


def test_a_status_byte_abandons_an_incomplete_message():
    out, parser = parse([0x90, 60, 0x80, 60, 0])
    assert out == [(0x80, 60, 0)]
    out, parser = parse([0xB0, 7], [0x90, 61, 100])
    assert out == [(0x90, 61, 100)]


def test_program_change_and_channel_pressure_have_one_data_byte():
    out, parser = parse([0xC2, 5, 6, 7], [0xD3, 40, 41])
    assert out == [(0xC2, 5), (0xC2, 6), (0xC2, 7), (0xD3, 40), (0xD3, 41)]
    assert parser.stats.stray_bytes == 0


def test_two_data_byte_kinds():
    stream = [0xA1, 60, 30, 0xB2, 64, 127, 0xE3, 0, 64, 0x84, 10, 20]
    out, _ = parse(stream)
    assert out == [(0xA1, 60, 30), (0xB2, 64, 127), (0xE3, 0, 64), (0x84, 10, 20)]


# -- system exclusive ------------------------------------------------------------------


def test_a_sysex_is_dropped_and_counted():
    out, parser = parse([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7, 0x90, 60, 100])
    assert out == [(0x90, 60, 100)]
    assert parser.stats.sysex == 1 and parser.stats.stray_bytes == 0


def test_a_sysex_across_many_chunks():
    body = [n % 128 for n in range(10_000)]
    chunks = [[0x90, 60, 100, 0xF0, *body[:3]]]
    chunks += [body[i:i + 97] for i in range(3, len(body), 97)]
    chunks += [[0xF7], [0x80, 60, 0]]
    out, parser = parse(*chunks)
    assert out == [(0x90, 60, 100), (0x80, 60, 0)]
    assert parser.stats.sysex == 1 and parser.stats.stray_bytes == 0


def test_an_unterminated_sysex_is_ended_by_the_next_status_byte():
    out, parser = parse([0xF0, 0x7E, 0x7F], [0x90, 61, 100])
    assert out == [(0x90, 61, 100)]
    assert parser.stats.sysex == 1 and parser.stats.stray_bytes == 0


def test_the_glued_blob_rtmidi_delivers_after_an_unterminated_sysex():
    out, parser = parse([0xF0, 0x7E, 0x7F, 0x90, 61, 100, 0x90, 62, 100, 0xF7])
    assert out == [(0x90, 61, 100), (0x90, 62, 100)]
    assert parser.stats.sysex == 1 and parser.stats.stray_bytes == 0


def test_the_glued_blob_with_running_status_inside():
    out, parser = parse([0xF0, 0x7E, 0x7F, 0x90, 61, 100, 62, 100, 0xF7])
    assert out == [(0x90, 61, 100), (0x90, 62, 100)]
    assert parser.stats.sysex == 1 and parser.stats.stray_bytes == 0


def test_a_sysex_ended_by_a_system_common_message():
    out, parser = parse([0xF0, 1, 2, 0xF2, 0x10, 0x20])
    assert out == [(0xF2, 0x10, 0x20)]
    assert parser.stats.sysex == 1


def test_a_sysex_cancels_the_running_status():
    out, parser = parse([0x90, 60, 100, 0xF0, 1, 2, 0xF7, 62, 100])
    assert out == [(0x90, 60, 100)]
    assert parser.stats.stray_bytes == 2


def test_a_sysex_abandons_an_incomplete_channel_message():
    out, parser = parse([0x90, 60, 0xF0, 1, 0xF7, 0x90, 61, 100])
    assert out == [(0x90, 61, 100)]


def test_back_to_back_sysex():
    out, parser = parse([0xF0, 1, 0xF7, 0xF0, 2, 3, 0xF0, 4, 0xF7, 0x80, 1, 2])
    assert out == [(0x80, 1, 2)]
    assert parser.stats.sysex == 3 and parser.stats.stray_bytes == 0


def test_a_lone_end_of_exclusive_is_ignored():
    out, parser = parse([0xF7], [0xF7, 0x90, 60, 100], [0xF7])
    assert out == [(0x90, 60, 100)]
    assert parser.stats.stray_bytes == 0 and parser.stats.sysex == 0


# -- real-time bytes -------------------------------------------------------------------


def test_every_realtime_byte_is_a_message_of_its_own():
    realtime = list(range(0xF8, 0x100))
    out, parser = parse(realtime)
    assert out == [(byte,) for byte in realtime]
    assert parser.stats.stray_bytes == 0


def test_realtime_inside_a_sysex_comes_out_and_the_sysex_goes_on():
    out, parser = parse([0xF0, 1, CLOCK, 2, 3], [ACTIVE_SENSING, 4, 0xF7, 0x90, 60, 100])
    assert out == [(CLOCK,), (ACTIVE_SENSING,), (0x90, 60, 100)]
    assert parser.stats.sysex == 1 and parser.stats.stray_bytes == 0  # 2, 3, 4: sysex body


def test_realtime_inside_a_channel_message_does_not_break_it():
    out, parser = parse([0x90, CLOCK, 60, START, 100])
    assert out == [(CLOCK,), (START,), (0x90, 60, 100)]
    assert parser.stats.stray_bytes == 0


def test_realtime_inside_a_running_status_message_and_across_chunks():
    out, parser = parse([0x90, 60, 100, 62], [CLOCK], [STOP, 100, 64, 100])
    assert out == [(0x90, 60, 100), (CLOCK,), (STOP,), (0x90, 62, 100), (0x90, 64, 100)]


def test_realtime_keeps_the_running_status():
    out, parser = parse([0xC0, 1, CLOCK, 2])
    assert out == [(0xC0, 1), (CLOCK,), (0xC0, 2)]
    assert parser.stats.stray_bytes == 0


def test_realtime_does_not_end_an_unterminated_sysex():
    out, parser = parse([0xF0, 1, CLOCK, 60, 100, 0xF7])
    assert out == [(CLOCK,)]
    assert parser.stats.stray_bytes == 0


# -- system common ---------------------------------------------------------------------


def test_system_common_lengths():
    out, parser = parse([0xF1, 0x35, 0xF2, 0x10, 0x20, 0xF3, 5, 0xF6])
    assert out == [(0xF1, 0x35), (0xF2, 0x10, 0x20), (0xF3, 5), (0xF6,)]
    assert parser.stats.stray_bytes == 0


def test_system_common_split_across_chunks():
    out, _ = parse([0xF2], [0x10], [0x20])
    assert out == [(0xF2, 0x10, 0x20)]


def test_each_system_common_message_cancels_the_running_status():
    for common in ([0xF1, 0x35], [0xF2, 0x10, 0x20], [0xF3, 5], [0xF6]):
        out, parser = parse([0x90, 60, 100, *common, 62, 100])
        assert out == [(0x90, 60, 100), tuple(common)], common
        assert parser.stats.stray_bytes == 2, common


def test_no_running_status_for_system_common_messages_themselves():
    out, parser = parse([0xF3, 5, 6, 0xF1, 1, 2])
    assert out == [(0xF3, 5), (0xF1, 1)]
    assert parser.stats.stray_bytes == 2


def test_a_status_byte_abandons_an_incomplete_system_common_message():
    out, _ = parse([0xF2, 0x10, 0x90, 60, 100])
    assert out == [(0x90, 60, 100)]


def test_realtime_inside_a_system_common_message():
    out, parser = parse([0xF2, 0x10, CLOCK, 0x20])
    assert out == [(CLOCK,), (0xF2, 0x10, 0x20)]
    assert parser.stats.stray_bytes == 0


# -- stray data bytes ------------------------------------------------------------------


def test_stray_data_bytes_are_dropped_and_counted():
    out, parser = parse([60, 100], [0x90, 61, 100])
    assert out == [(0x90, 61, 100)]
    assert parser.stats.stray_bytes == 2


def test_stray_counts_accumulate_over_feeds():
    parser = StreamParser()
    for _ in range(5):
        assert list(parser.feed([1, 2, 3])) == []
    assert parser.stats.stray_bytes == 15
    assert list(parser.feed([0x80, 1, 2])) == [(0x80, 1, 2)]
    assert parser.stats.stray_bytes == 15


def test_feed_is_lazy_but_the_state_carries_on():
    parser = StreamParser()
    messages = parser.feed([0x90, 60, 100, 62, 100])
    assert next(messages) == (0x90, 60, 100)
    assert list(messages) == [(0x90, 62, 100)]
    assert list(parser.feed([64, 100])) == [(0x90, 64, 100)]


# -- the property: any well-formed stream, however chunked and interrupted --------------

CHANNEL_DATA = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
data_byte = st.integers(0, 0x7F)
realtime_byte = st.integers(0xF8, 0xFF)


@st.composite
def channel_message(draw) -> tuple[int, ...]:
    kind = draw(st.sampled_from(sorted(CHANNEL_DATA)))
    channel = draw(st.integers(0, 15))
    data = draw(st.lists(data_byte, min_size=CHANNEL_DATA[kind], max_size=CHANNEL_DATA[kind]))
    return (kind | channel, *data)


@st.composite
def sysex(draw) -> list[int]:
    body = draw(st.lists(data_byte, max_size=40))
    terminated = draw(st.booleans())  # unterminated: the next status byte ends it
    return [0xF0, *body, *([0xF7] if terminated else [])]


@st.composite
def midi_stream(draw):
    """(chunks, expected messages, sysex count) of a random well-formed stream."""
    items = draw(st.lists(st.one_of(channel_message(), sysex()), max_size=40))
    # Each byte with what it completes (a message to expect), or None.
    tagged: list[tuple[int, tuple[int, ...] | None]] = []
    running = 0
    sysex_count = 0
    for item in items:
        if isinstance(item, list):  # a sysex: it cancels the running status
            sysex_count += 1
            tagged += [(byte, None) for byte in item]
            running = 0
            continue
        status, *data = item
        if status != running or not draw(st.booleans()):  # running status: optional
            tagged.append((status, None))
        running = status
        tagged += [(byte, None) for byte in data[:-1]]
        tagged.append((data[-1], item))
    # Real-time bytes anywhere: inside messages, inside sysex, between them.
    inserts = draw(st.lists(st.tuples(st.integers(0, len(tagged)), realtime_byte),
                            max_size=20))
    for position, byte in sorted(inserts, reverse=True):
        tagged.insert(position, (byte, (byte,)))
    stream = [byte for byte, _ in tagged]
    expected = [message for _, message in tagged if message is not None]
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=15)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return chunks, expected, sysex_count


@settings(max_examples=400, deadline=None)
@given(midi_stream())
def test_any_well_formed_stream_yields_exactly_its_messages(case):
    chunks, expected, sysex_count = case
    out, parser = parse(*chunks)
    assert out == expected
    assert parser.stats.stray_bytes == 0
    assert parser.stats.sysex == sysex_count


@settings(max_examples=200, deadline=None)
@given(midi_stream())
def test_chunking_never_changes_the_messages(case):
    chunks, expected, _ = case
    whole = [byte for chunk in chunks for byte in chunk]
    one_by_one, _ = parse(*([byte] for byte in whole))
    all_at_once, _ = parse(whole)
    assert one_by_one == all_at_once == expected


# -- helpers -------------------------------------------------------------------------


def test_panic_messages_release_every_note_then_sound_and_notes_off():
    for channel in range(16):
        messages = panic_messages(channel)
        assert len(messages) == 130
        assert messages[:128] == [(0x80 | channel, pitch, 0) for pitch in range(128)]
        assert messages[128] == (0xB0 | channel, 120, 0)
        assert messages[129] == (0xB0 | channel, 123, 0)
        assert {channel_of(message) for message in messages} == {channel + 1}


def test_channel_of_is_one_based_and_none_for_system_messages():
    assert channel_of((0x90, 60, 100)) == 1
    assert channel_of([0x99, 36, 100]) == 10
    assert channel_of((0x8F, 60, 0)) == 16
    assert channel_of((0xC4, 5)) == 5
    assert channel_of((0xE5, 0, 64)) == 6
    for system in ((0xF0, 1, 0xF7), (0xF2, 1, 2), (0xF6,), (0xF8,), (0xFF,)):
        assert channel_of(system) is None


def test_is_note():
    assert is_note((0x90, 60, 100)) and is_note([0x8F, 60, 0]) and is_note((0x95, 1, 0))
    assert not is_note((0xA0, 60, 10))  # poly pressure
    assert not is_note((0xB0, 64, 127))
    assert not is_note((0xC0, 5)) and not is_note((0xF8,))
    assert not is_note((0x90, 60))  # not a whole message


def test_is_note_on_and_velocity_zero():
    assert is_note_on((0x90, 60, 100)) and is_note_on([0x9F, 127, 1])
    assert not is_note_on((0x90, 60, 0))  # velocity 0 is a note-off
    assert not is_note_on((0x80, 60, 100))
    assert not is_note_on((0xA0, 60, 100))
    assert not is_note_on((0x90, 60))
