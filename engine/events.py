"""The note event: the one unit of music that crosses every boundary inside Antiphon.

The engine imports numpy, onnxruntime and the standard library only, never mido
(docs/ARCHITECTURE.md, 'Dependency rules'), so MIDI arrives here as the raw bytes of a channel
message: the daemon passes the bytes a port delivered (or a mido message's `msg.bytes()`, for
a file) and the training importer does the same for messages read from files. Time is
musical: integer clock ticks, TICKS_PER_BEAT to a beat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TICKS_PER_BEAT = 24  # the MIDI clock resolution: 24 pulses per quarter note
# The longest silence (or note held alone) a session steps its model through: two bars of
# 4/4. Longer ones enter the model's context as this rest, and the session's time jumps
# over the rest in whole beats without model steps: a model hears no difference between a
# few bars of rest and an hour (it learnt from pieces, whose rests last a few bars), but
# stepping through an hour of rests would keep the first answer after it waiting for
# seconds. Jumping whole beats keeps the beat phase of everything heard after the silence.
MAX_HEARD_SILENCE_TICKS = 8 * TICKS_PER_BEAT

NOTE_OFF_STATUS = 0x80
NOTE_ON_STATUS = 0x90


@dataclass(frozen=True, slots=True)
class NoteEvent:
    """A note starting or stopping at a point in musical time."""

    tick: int  # absolute time in clock ticks (TICKS_PER_BEAT per beat)
    pitch: int  # MIDI note number, 0..127
    velocity: int  # 1..127 starts the note; 0 stops it

    @property
    def is_note_on(self) -> bool:
        return self.velocity > 0

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch must be 0..127, got {self.pitch}")
        if not 0 <= self.velocity <= 127:
            raise ValueError(f"velocity must be 0..127, got {self.velocity}")
        if self.tick < 0:
            raise ValueError(f"tick must be >= 0, got {self.tick}")


def note_event_from_bytes(data: Sequence[int], tick: int) -> NoteEvent | None:
    """Decode a MIDI channel message; returns None for anything that is not a note,
    malformed notes included (a data byte of 128 or more, a truncated message): a buggy
    device must not be able to stop the music.

    A note-on with velocity 0 is a note-off, as the MIDI standard says.
    """
    if len(data) < 3 or data[1] > 127 or data[2] > 127:
        return None
    kind = data[0] & 0xF0
    if kind == NOTE_ON_STATUS:
        return NoteEvent(tick, data[1], data[2])
    if kind == NOTE_OFF_STATUS:
        return NoteEvent(tick, data[1], 0)
    return None


def note_event_to_bytes(event: NoteEvent, channel: int = 0) -> list[int]:
    """The MIDI bytes for an event: note-on, or a real note-off (0x80) for velocity 0."""
    if event.velocity > 0:
        return [NOTE_ON_STATUS | channel, event.pitch, event.velocity]
    return [NOTE_OFF_STATUS | channel, event.pitch, 0]


def sort_events(events: Iterable[NoteEvent]) -> list[NoteEvent]:
    """Canonical order: by time, note-offs before note-ons at the same tick, then by pitch.

    Releasing first means a note struck again at the moment it ends is re-struck, not lost.
    """
    return sorted(events, key=lambda e: (e.tick, e.velocity > 0, e.pitch))


def close_open_notes(events: Iterable[NoteEvent], end_tick: int) -> list[NoteEvent]:
    """Append a note-off at `end_tick` for every note still sounding at the end of `events`."""
    result = list(events)
    sounding: set[int] = set()
    for event in result:
        if event.velocity > 0:
            sounding.add(event.pitch)
        else:
            sounding.discard(event.pitch)
    result.extend(NoteEvent(end_tick, pitch, 0) for pitch in sorted(sounding))
    return result
