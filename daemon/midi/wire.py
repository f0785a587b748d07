"""MIDI bytes as they come off the wire, made into whole messages.

A MIDI system hands over chunks of the byte stream, usually one message each, but not
always: a sender may use running status (data bytes whose status byte was sent earlier), a
system exclusive message may span chunks or never end (`F0 7E 7F` and then notes: the
MIDI system then delivers those notes glued behind the sysex, once something ends it),
real-time bytes (clock, start, stop) may sit inside a sysex, and a stray data byte may come
with no status at all. `StreamParser` reads chunks as one continuous stream and yields
each complete message by the rules of the MIDI 1.0 specification:

- a status byte 0x80-0xEF starts a channel message and becomes the running status;
- a sysex runs from F0 to F7, or to the next status byte that is not real-time (which
  ends it and is read as the message it starts); its body is dropped, never its neighbours;
- real-time bytes (F8-FF) are messages of one byte wherever they stand;
- system common messages (F1-F6) cancel the running status;
- data bytes with no status to belong to are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SYSEX_START = 0xF0
SYSEX_END = 0xF7
FIRST_REALTIME = 0xF8
NOTE_OFF = 0x80
NOTE_ON = 0x90
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
SUSTAIN_PEDAL = 64  # the controller number of the sustain (damper) pedal
ALL_SOUND_OFF_CONTROLLER = 120
ALL_NOTES_OFF_CONTROLLER = 123
CHANNELS = 16
DRUM_CHANNEL = 10  # 1-based, as musicians and the options count channels

# Data bytes that follow each channel status (high nibble) and system common status.
_CHANNEL_DATA = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_COMMON_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF4: 0, 0xF5: 0, 0xF6: 0}


@dataclass
class ParserStats:
    sysex: int = 0  # system exclusive messages skipped (ended by F7 or by a status byte)
    stray_bytes: int = 0  # data bytes with no status to belong to


class StreamParser:
    """Chunks of MIDI bytes in, whole messages out; see the module docstring."""

    def __init__(self) -> None:
        self._status = 0  # the running status (a channel status byte), 0 for none
        self._pending: list[int] = []  # data bytes read for the running status so far
        self._needed = 0  # data bytes the current message needs in all
        self._in_sysex = False
        self.stats = ParserStats()

    def feed(self, chunk: Iterable[int]) -> Iterator[tuple[int, ...]]:
        """Yield every message `chunk` completes, in order."""
        for byte in chunk:
            if byte >= FIRST_REALTIME:
                yield (byte,)  # real-time: a message of its own, wherever it stands
            elif byte == SYSEX_START:
                self._start_sysex()
            elif byte == SYSEX_END:
                # The end of a sysex; alone, an input's own probe (see reader.py), or the
                # end of a sysex a status byte already ended: nothing to hand on either way.
                self._in_sysex = False
            elif byte >= 0x80:
                self._in_sysex = False  # any other status byte ends a sysex
                message = self._start_status(byte)
                if message is not None:
                    yield message
            elif self._in_sysex:
                continue  # the body of a sysex: nothing Antiphon plays from
            elif self._status:
                self._pending.append(byte)
                if len(self._pending) == self._needed:
                    message = (self._status, *self._pending)
                    self._pending = []
                    if self._status < SYSEX_START:
                        yield message
                    else:  # a system common message: no running status after it
                        self._status = 0
                        yield message
            else:
                self.stats.stray_bytes += 1

    def _start_sysex(self) -> None:
        self._in_sysex = True
        self.stats.sysex += 1
        self._status = 0  # a sysex cancels the running status
        self._pending = []

    def _start_status(self, status: int) -> tuple[int, ...] | None:
        if status < SYSEX_START:
            self._needed = _CHANNEL_DATA[status & 0xF0]
        else:
            self._needed = _COMMON_DATA[status]
        self._status = status
        self._pending = []
        if self._needed == 0:  # tune request and the undefined F4 / F5
            self._status = 0
            return (status,)
        return None


def channel_of(message: tuple[int, ...] | list[int]) -> int | None:
    """The 1-based channel of a channel message, None for a system message."""
    status = message[0]
    return (status & 0x0F) + 1 if 0x80 <= status < SYSEX_START else None


def is_note(message: tuple[int, ...] | list[int]) -> bool:
    return len(message) == 3 and message[0] & 0xE0 == NOTE_OFF  # 0x8n or 0x9n


def is_note_on(message: tuple[int, ...] | list[int]) -> bool:
    return len(message) == 3 and message[0] & 0xF0 == NOTE_ON and message[2] > 0


def sustain_state(message: tuple[int, ...] | list[int]) -> bool | None:
    """True (pedal down) or False (up) for a sustain-pedal message (CC 64: 64..127 hold,
    0..63 release, MIDI 1.0's on/off switch), None for any other message."""
    if len(message) != 3 or message[0] & 0xF0 != CONTROL_CHANGE:
        return None
    if message[1] != SUSTAIN_PEDAL or message[2] > 127:
        return None
    return message[2] >= 64


def panic_messages(channel: int) -> list[tuple[int, ...]]:
    """Everything that silences one channel (0-based): a note-off for each of the 128
    notes (some synths ignore All Notes Off), then All Sound Off and All Notes Off."""
    return [
        *((NOTE_OFF | channel, pitch, 0) for pitch in range(128)),
        (CONTROL_CHANGE | channel, ALL_SOUND_OFF_CONTROLLER, 0),
        (CONTROL_CHANGE | channel, ALL_NOTES_OFF_CONTROLLER, 0),
    ]
