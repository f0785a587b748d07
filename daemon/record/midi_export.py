"""A take as a standard MIDI file: the call and the answer on two tracks, or one track per
exchange (the call before an answer began, and that answer).

A take counts seconds; a MIDI file counts ticks of a beat. The take's tempo events make
the tempo map (`TempoMap`): the first tempo holds from the take's start, each change from
its moment; seconds become beats through it, and the file carries the same map as
set_tempo metas, so a DAW shows the notes on the bars they were played on.

Every note-on is closed in the file: a note struck again while it sounds is released
first, and whatever still sounds (or a pedal still down) is released at the take's end.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import mido

from antiphon.daemon.record.take_events import (
    ANSWER,
    ANSWER_START,
    CALL,
    CONTROL_CHANGE,
    SUSTAIN_PEDAL,
    TEMPO,
    Take,
    TakeEvent,
    is_note_off,
    is_note_on,
)

TICKS_PER_BEAT = 480
DEFAULT_BPM = 120.0  # a take with no tempo event (none was told)
BEATS_PER_BAR = 4


class TempoMap:
    """Seconds since the take began to beats, through the tempo changes."""

    def __init__(self, changes: Sequence[tuple[float, float]]) -> None:
        """changes: (seconds, bpm), in time order; the first holds from 0 whenever it came."""
        kept: list[tuple[float, float]] = []
        for seconds, bpm in changes:
            if kept and bpm == kept[-1][1]:
                continue
            kept.append((0.0 if not kept else max(seconds, kept[-1][0]), bpm))
        self.changes = tuple(kept) or ((0.0, DEFAULT_BPM),)
        self._starts = [seconds for seconds, _ in self.changes]
        self._beats = [0.0]
        for (seconds, bpm), (later, _) in zip(self.changes, self.changes[1:], strict=False):
            self._beats.append(self._beats[-1] + (later - seconds) * bpm / 60.0)

    @classmethod
    def of(cls, events: Iterable[TakeEvent]) -> TempoMap:
        return cls([(event.seconds, float(event.detail["bpm"])) for event in events
                    if event.kind == TEMPO and event.detail])

    def beats(self, seconds: float) -> float:
        index = max(0, bisect.bisect_right(self._starts, seconds) - 1)
        start, bpm = self.changes[index]
        return self._beats[index] + (seconds - start) * bpm / 60.0

    def ticks(self, seconds: float) -> int:
        return round(self.beats(seconds) * TICKS_PER_BEAT)

    def tempo_ticks(self) -> list[tuple[int, float]]:
        """(tick, bpm) of each tempo in force, the first at tick 0."""
        return [(self.ticks(seconds), bpm) for seconds, bpm in self.changes]


@dataclass(frozen=True)
class NoteSpan:
    """A note as it sounded: from its note-on to its note-off, in beats."""

    start: float
    end: float
    pitch: int
    velocity: int
    channel: int


def in_time_order(events: Iterable[TakeEvent]) -> list[TakeEvent]:
    """Events by their time; those of one moment in the order they were journalled."""
    return sorted(events, key=lambda event: event.seconds)


def note_spans(events: Iterable[TakeEvent], kind: str, tempo: TempoMap,
               end_seconds: float) -> list[NoteSpan]:
    """The notes of one side ("call" or "answer"), each note-on paired with its note-off
    (a key struck again ends the sounding one; what sounds at the end ends there)."""
    sounding: dict[tuple[int, int], tuple[float, int]] = {}
    spans: list[NoteSpan] = []
    for event in in_time_order(events):
        if event.kind != kind:
            continue
        message = event.message
        key = (message[0] & 0x0F, message[1]) if len(message) == 3 else None
        beat = tempo.beats(event.seconds)
        if key is not None and (is_note_off(message) or is_note_on(message)) and \
                key in sounding:
            start, velocity = sounding.pop(key)
            spans.append(NoteSpan(start, beat, key[1], velocity, key[0]))
        if key is not None and is_note_on(message):
            sounding[key] = (beat, message[2])
    end = tempo.beats(end_seconds)
    for (channel, pitch), (start, velocity) in sounding.items():
        spans.append(NoteSpan(start, max(start, end), pitch, velocity, channel))
    return sorted(spans, key=lambda span: (span.start, span.pitch))


class _TrackBuilder:
    """One track's messages at absolute ticks, keeping every note-on closed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.timed: list[tuple[int, mido.Message | mido.MetaMessage]] = []
        self.sounding: set[tuple[int, int]] = set()
        self.pedals: set[int] = set()

    def add(self, tick: int, message: Sequence[int]) -> None:
        channel = message[0] & 0x0F
        if is_note_on(message) or is_note_off(message):
            key = (channel, message[1])
            if key in self.sounding:
                self.sounding.discard(key)
                release = list(message) if is_note_off(message) else [0x80 | channel, key[1], 0]
                self.timed.append((tick, mido.Message.from_bytes(release)))
            if is_note_on(message):
                self.sounding.add(key)
                self.timed.append((tick, mido.Message.from_bytes(list(message))))
            return  # a release of a note not sounding here is dropped
        if message[0] & 0xF0 == CONTROL_CHANGE and message[1] == SUSTAIN_PEDAL:
            (self.pedals.add if message[2] >= 64 else self.pedals.discard)(channel)
        self.timed.append((tick, mido.Message.from_bytes(list(message))))

    def close(self, tick: int) -> None:
        for channel, pitch in sorted(self.sounding):
            self.timed.append((tick, mido.Message("note_off", channel=channel, note=pitch,
                                                  velocity=0)))
        for channel in sorted(self.pedals):
            self.timed.append((tick, mido.Message("control_change", channel=channel,
                                                  control=SUSTAIN_PEDAL, value=0)))
        self.sounding.clear()
        self.pedals.clear()

    def track(self, metas: Sequence[tuple[int, mido.MetaMessage]] = ()) -> mido.MidiTrack:
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=self.name, time=0))
        last = 0
        # Stable by tick: metas first, then the messages in the order they were played.
        for tick, message in sorted([*metas, *self.timed], key=lambda item: item[0]):
            track.append(message.copy(time=tick - last))
            last = tick
        return track


def take_to_midi(take: Take, per_exchange: bool = False) -> mido.MidiFile:
    """The take as a type-1 MIDI file, TICKS_PER_BEAT ticks a beat, with its tempo map:
    tracks "call" and "answer", or "exchange 1", "exchange 2", ... (per_exchange)."""
    events = in_time_order(take.events)
    tempo = TempoMap.of(events)
    starts = [event.seconds for event in events if event.kind == ANSWER_START]
    if per_exchange:
        builders = [_TrackBuilder(f"exchange {index + 1}") for index in range(len(starts) + 1)]
    else:
        builders = [_TrackBuilder("call"), _TrackBuilder("answer")]
    # A release goes to the track that holds its note, whichever exchange it falls in.
    holder: dict[tuple[str, int, int], _TrackBuilder] = {}
    for event in events:
        if event.kind not in (CALL, ANSWER) or len(event.message) != 3:
            continue
        if per_exchange:
            index = bisect.bisect_left(starts, event.seconds) if event.kind == CALL else \
                max(0, bisect.bisect_right(starts, event.seconds) - 1)
            builder = builders[index]
        else:
            builder = builders[0 if event.kind == CALL else 1]
        message = event.message
        tick = tempo.ticks(event.seconds)
        key = (event.kind, message[0] & 0x0F, message[1])
        if is_note_off(message) and key in holder:
            builder = holder.pop(key)
        elif is_note_on(message):
            earlier = holder.get(key)
            if earlier is not None and earlier is not builder:
                earlier.add(tick, (0x80 | key[1], key[2], 0))  # struck again in a later one
            holder[key] = builder
        builder.add(tick, message)
    end = tempo.ticks(take.seconds)
    for builder in builders:
        builder.close(end)
    if per_exchange and not builders[-1].timed and len(builders) > 1:
        builders.pop()  # no call after the last answer
    metas = [(0, mido.MetaMessage("time_signature", numerator=BEATS_PER_BAR, denominator=4))]
    metas += [(tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
              for tick, bpm in tempo.tempo_ticks()]
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(builders[0].track(metas))
    midi.tracks.extend(builder.track() for builder in builders[1:])
    return midi
