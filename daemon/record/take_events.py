"""One thing that happened in a take, as the feed hands it on and the journal keeps it.

A take is a stretch of playing: the player's call (what the daemon kept of the input), the
daemon's answer (what it sent), when each answer began and the rules it kept, the tempo and
the clock followed, and the settings that answered. Each is a `TakeEvent` stamped with
its seconds since the take began; `as_json` is one line of the journal (and one event of
the web page's stream), `from_json` reads it back and refuses a row that is not one.

`Take` is a whole take read back: its journal's header and its events in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CALL = "call"  # a message the player played that the daemon kept
ANSWER = "answer"  # a message the daemon's answer sent
ANSWER_START = "answer_start"  # an answer begins: {"due", "keeps"}
TEMPO = "tempo"  # {"bpm", "clock"}
SETTINGS = "settings"  # {"model", "temperature", "top_p", "scale", "texture", "candidates"}
TAKE_EVENT_KINDS = (CALL, ANSWER, ANSWER_START, TEMPO, SETTINGS)
MESSAGE_KINDS = (CALL, ANSWER)
# Keys of a JSON row that are not the detail's.
_ROW_KEYS = ("t", "kind", "msg")
# What a journal row may say, well beyond any take (the daemon keeps 20..400 BPM; a daemon
# run as a service for years stays under the time): past these a row is not a take's, and
# a tempo or a time past them would make a MIDI file or a picture no one could hold.
MAX_TAKE_SECONDS = 1e8
MIN_TAKE_BPM = 4.0  # a MIDI file's slowest tempo is 3.58 BPM
MAX_TAKE_BPM = 1000.0

NOTE_OFF = 0x80
NOTE_ON = 0x90
CONTROL_CHANGE = 0xB0
PITCH_BEND = 0xE0
SUSTAIN_PEDAL = 64
ALL_SOUND_OFF = 120
ALL_NOTES_OFF = 123
# What a take keeps of a channel's voice messages: notes, controllers, pitch bend (no
# program change, no aftertouch, no clock, no sysex).
KEPT_STATUSES = frozenset({NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PITCH_BEND})


@dataclass(frozen=True, slots=True)
class TakeEvent:
    """One thing that happened, `seconds` after the take began (time.perf_counter based)."""

    seconds: float
    kind: str  # one of TAKE_EVENT_KINDS
    message: tuple[int, ...] = ()  # MIDI bytes, for "call" and "answer"
    detail: dict | None = None  # the other kinds' data (see the module docstring)

    def as_json(self) -> dict:
        """{"t": 1.234, "kind": "call", "msg": [144, 60, 100]}, or the detail's keys beside
        "t" and "kind" ({"t": ..., "kind": "tempo", "bpm": 120.0, "clock": "internal"})."""
        row: dict[str, Any] = {"t": round(self.seconds, 6), "kind": self.kind}
        if self.kind in MESSAGE_KINDS:
            row["msg"] = list(self.message)
        elif self.detail:
            row.update((key, value) for key, value in self.detail.items()
                       if key not in _ROW_KEYS)
        return row

    @classmethod
    def from_json(cls, row: dict) -> TakeEvent:
        """The event a journal row says; ValueError naming what is wrong with it."""
        if not isinstance(row, dict):
            raise ValueError(f"a take event must be a JSON object, got {type(row).__name__}")
        seconds = take_seconds(row.get("t"))
        kind = row.get("kind")
        if kind not in TAKE_EVENT_KINDS:
            raise ValueError(f"unknown take event kind {kind!r}")
        if kind in MESSAGE_KINDS:
            return cls(float(seconds), kind, _message(row.get("msg")))
        detail = {key: value for key, value in row.items() if key not in _ROW_KEYS}
        _check_detail(kind, detail)
        return cls(float(seconds), kind, (), detail)


def take_seconds(value: Any) -> float:
    """A row's time: seconds since the take began, 0 to MAX_TAKE_SECONDS; ValueError
    for anything else (NaN, infinity, a word, true)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not 0 <= value <= MAX_TAKE_SECONDS:
        raise ValueError(f"a take event's time must be 0 to {MAX_TAKE_SECONDS:g} seconds, "
                         f"got {value!r}")
    return float(value)


def _message(value: Any) -> tuple[int, ...]:
    """The MIDI bytes of a row: only what a take keeps (kept_message), never a system
    message or a program change, which a file of the take could not be made from."""
    if not isinstance(value, list) or not all(
            isinstance(byte, int) and not isinstance(byte, bool) and 0 <= byte <= 255
            for byte in value) or not kept_message(value):
        raise ValueError("a take event's message must be a note on/off, a control change "
                         f"or a pitch bend (3 MIDI bytes), got {value!r}")
    return tuple(value)


def _number(detail: dict, key: str, kind: str) -> float:
    value = detail.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise ValueError(f"a {kind} event needs a number {key!r}, got {value!r}")
    return float(value)


def _check_detail(kind: str, detail: dict) -> None:
    if kind == ANSWER_START:
        _number(detail, "due", kind)
        if not isinstance(detail.get("keeps", ""), str):
            raise ValueError(f"an answer_start's 'keeps' must be text, got {detail['keeps']!r}")
    elif kind == TEMPO:
        if not MIN_TAKE_BPM <= _number(detail, "bpm", kind) <= MAX_TAKE_BPM:
            raise ValueError(f"a tempo must be {MIN_TAKE_BPM:g} to {MAX_TAKE_BPM:g} BPM, "
                             f"got {detail['bpm']!r}")
        if not isinstance(detail.get("clock"), str):
            raise ValueError(f"a tempo event needs a text 'clock', got {detail.get('clock')!r}")


def kept_message(message: Sequence[int]) -> bool:
    """A channel message a take keeps: a whole note on/off, control change or pitch bend."""
    return len(message) == 3 and (message[0] & 0xF0) in KEPT_STATUSES and \
        message[1] < 128 and message[2] < 128


def is_note_on(message: Sequence[int]) -> bool:
    return len(message) == 3 and message[0] & 0xF0 == NOTE_ON and message[2] > 0


def is_note_off(message: Sequence[int]) -> bool:
    """A release: 0x8n, or 0x9n with velocity 0, as the MIDI standard says."""
    return len(message) == 3 and (message[0] & 0xF0 == NOTE_OFF or
                                  (message[0] & 0xF0 == NOTE_ON and message[2] == 0))


def controller(message: Sequence[int]) -> int | None:
    """The controller number of a control change, else None."""
    if len(message) == 3 and message[0] & 0xF0 == CONTROL_CHANGE:
        return message[1]
    return None


@dataclass(frozen=True)
class Take:
    """A take read back from its journal."""

    id: str
    header: dict  # {"format": "antiphon-take-v1", "started": ISO local time, "pid": ...}
    events: tuple[TakeEvent, ...] = field(default=())
    ended: float | None = None  # the end line's time: the take was stopped cleanly
    finished: bool = False  # its take.mid was written
    skipped_lines: int = 0  # rows that were not events (a line cut by a crash is not counted)

    @property
    def seconds(self) -> float:
        """How long the take lasted: its end line, else its last event."""
        last = max((event.seconds for event in self.events), default=0.0)
        return max(last, self.ended or 0.0)
