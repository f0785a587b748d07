"""The .mid files of `antiphon continue`: the call read from one, the call and its answers
written to another.

The call is every note of the file but the drums (channel 10), its tracks merged, heard as
the interaction loop hears a player (pedal.PlayedNotes: the sustain pedal holds released
keys; one voice per pitch across channels). Its times become the session's ticks
(TICKS_PER_BEAT a beat) counted from the whole beat of its first note, so the file's beats
stay the session's beats: a DAW's file has its bars, as a shared clock does live.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import mido

from antiphon.daemon.play.pedal import PlayedNotes
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent

DRUM_CHANNEL = 9  # channel 10, 0-based: General MIDI's drums, no call to answer
DEFAULT_TEMPO = 500_000  # microseconds a beat: 120 BPM, the MIDI file default
SUSTAIN = 64


class CallFileError(ValueError):
    """A call file that cannot be answered (said in one line)."""


@dataclass
class CallFile:
    """What `read_call` found in a .mid file."""

    ticks_per_beat: int  # the file's resolution
    tempos: list[tuple[int, int]]  # (file tick, microseconds a beat): its tempo map
    time_signature: tuple[int, int] | None  # its first (numerator, denominator)
    messages: list[tuple[int, mido.Message]]  # the call's notes and pedal, file ticks
    events: list[NoteEvent]  # the call as heard, session ticks
    origin_ticks: int  # where the session's tick 0 lies, in session ticks from the file's start
    first_strike: int  # session ticks
    last_activity: int  # the call's last strike or release, session ticks
    notes: int  # strikes heard

    @property
    def beats_per_bar(self) -> float:
        if self.time_signature is None:
            return 4.0
        numerator, denominator = self.time_signature
        return numerator * 4.0 / denominator

    @property
    def bpm(self) -> float | None:
        """The file's first tempo; None where it sets none."""
        return mido.tempo2bpm(self.tempos[0][1]) if self.tempos else None

    def file_tick(self, session_tick: int) -> int:
        """A session tick in the file's ticks."""
        return round((session_tick + self.origin_ticks) * self.ticks_per_beat / TICKS_PER_BEAT)


def read_call(path: Path) -> CallFile:
    """The call in `path`; CallFileError saying what is wrong with it."""
    if not path.exists():
        raise CallFileError(f"{str(path)!r}: no such file")
    if not os.access(path, os.R_OK):
        raise CallFileError(f"{str(path)!r} cannot be read (permission denied)")
    if path.is_dir():
        raise CallFileError(f"{str(path)!r} is a folder, not a MIDI file")
    if path.stat().st_size == 0:
        raise CallFileError(f"{str(path)!r} is empty, not a MIDI file")
    try:
        midi = mido.MidiFile(path)
    except OSError as err:  # mido says "MThd not found. Probably not a MIDI file"
        raise CallFileError(f"{str(path)!r} is not a MIDI file ({err})") from err
    except (EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        why = str(err) or "it ends too soon"
        raise CallFileError(f"{str(path)!r} is not a MIDI file, or a broken one ({why})") from err
    if midi.ticks_per_beat <= 0:
        raise CallFileError(f"{str(path)!r}: SMPTE time division is not supported")
    tempos: list[tuple[int, int]] = []
    signatures: list[tuple[int, tuple[int, int]]] = []
    timed: list[tuple[int, int, int, mido.Message]] = []  # (tick, release first, order, msg)
    order = 0
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            order += 1
            if message.type == "set_tempo":
                tempos.append((tick, message.tempo))
            elif message.type == "time_signature":
                signatures.append((tick, (message.numerator, message.denominator)))
            elif _is_call_message(message):
                strike = message.type == "note_on" and message.velocity > 0
                timed.append((tick, int(strike), order, message))
    timed.sort(key=lambda item: item[:3])  # releases before strikes at one tick
    tempos.sort(key=lambda item: item[0])
    signatures.sort(key=lambda item: item[0])
    if not any(strike for _, strike, _, _ in timed):
        raise CallFileError(f"{str(path)!r} has no notes to answer "
                            "(drums on channel 10 are not heard)")
    resolution = midi.ticks_per_beat
    first = next(tick for tick, strike, _, _ in timed if strike)
    origin = math.floor(first / resolution) * TICKS_PER_BEAT  # the first note's whole beat
    played = PlayedNotes()
    events: list[NoteEvent] = []
    messages: list[tuple[int, mido.Message]] = []
    sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> strikes unreleased
    for tick, strike, _, message in timed:
        heard = played.hear(message.bytes(), _session_tick(tick, resolution, origin))
        events.extend(heard or [])
        key = (getattr(message, "channel", 0), getattr(message, "note", -1))
        if message.type == "control_change":
            messages.append((tick, message))
        elif strike:
            sounding[key] = sounding.get(key, 0) + 1
            messages.append((tick, message))
        elif sounding.get(key):  # a release of nothing struck is not copied
            sounding[key] -= 1
            messages.append((tick, message))
    end = timed[-1][0]
    # A note the file never lets go of, or one the pedal still holds, ends with the call.
    for (channel, pitch), count in sorted(sounding.items()):
        messages.extend((end, mido.Message("note_off", channel=channel, note=pitch))
                        for _ in range(count))
    for channel in range(16):
        events.extend(played.hear([0xB0 | channel, SUSTAIN, 0],
                                  _session_tick(end, resolution, origin)) or [])
    for pitch in sorted(played.sounding()):
        for channel in sorted(played.sounding().get(pitch, ())):
            events.extend(played.hear([0x80 | channel, pitch, 0],
                                      _session_tick(end, resolution, origin)) or [])
    strikes = [event.tick for event in events if event.velocity]
    return CallFile(
        ticks_per_beat=resolution, tempos=tempos,
        time_signature=signatures[0][1] if signatures else None,
        messages=messages, events=events, origin_ticks=origin,
        first_strike=min(strikes), last_activity=max(event.tick for event in events),
        notes=len(strikes),
    )


def _is_call_message(message: mido.Message) -> bool:
    if message.type in ("note_on", "note_off"):
        return message.channel != DRUM_CHANNEL
    return (message.type == "control_change" and message.control == SUSTAIN
            and message.channel != DRUM_CHANNEL)


def _session_tick(file_tick: int, resolution: int, origin: int) -> int:
    return round(file_tick * TICKS_PER_BEAT / resolution) - origin


def check_writable(path: Path) -> None:
    """OSError, said in words, when `path` cannot be written (checked before the answers
    are sampled, so a typo costs no wait). Its folder is made if missing."""
    if path.is_dir():
        raise OSError(f"cannot write {str(path)!r}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot write {str(path)!r}: {err.strerror or err}") from err
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OSError(f"cannot write {str(path)!r}: permission denied")


def write_continuation(path: Path, call: CallFile, answers: list[list[NoteEvent]],
                       channel: int, bpm: float | None = None) -> None:
    """A type-1 file: the call on the first track (with the tempo map: the file's, or
    `bpm` alone), then each answer on a track of its own, "answer 1" ..., on `channel`
    (0-based). Every note-on has its note-off. OSError naming the file if it cannot be
    written."""
    midi = mido.MidiFile(type=1, ticks_per_beat=call.ticks_per_beat)
    meta: list[tuple[int, mido.MetaMessage]] = []
    if bpm is not None or not call.tempos:
        tempo = mido.bpm2tempo(bpm if bpm is not None else 120.0)
        meta.append((0, mido.MetaMessage("set_tempo", tempo=tempo)))
    else:
        meta.extend((tick, mido.MetaMessage("set_tempo", tempo=tempo))
                    for tick, tempo in call.tempos)
    if call.time_signature is not None:
        numerator, denominator = call.time_signature
        meta.insert(0, (0, mido.MetaMessage("time_signature", numerator=numerator,
                                            denominator=denominator)))
    midi.tracks.append(_track("call", [*meta, *call.messages]))
    for number, answer in enumerate(answers, start=1):
        timed = [(call.file_tick(event.tick), mido.Message(
            "note_on" if event.velocity else "note_off", channel=channel, note=event.pitch,
            velocity=event.velocity)) for event in answer]
        midi.tracks.append(_track(f"answer {number}", timed))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        midi.save(path)
    except OSError as err:
        raise OSError(f"cannot write {str(path)!r}: {err.strerror or err}") from err


def roll_notes(events: list[NoteEvent], origin_ticks: int) -> list[tuple[float, float, int, int]]:
    """Note events (session ticks) as a piano roll's notes: (start beat, end beat, pitch,
    velocity) on the file's beats (`origin_ticks`: where session tick 0 lies); a note
    never released ends with the last event."""
    sounding: dict[int, list[NoteEvent]] = {}
    notes = []
    last = max((event.tick for event in events), default=0)

    def beat(tick: int) -> float:
        return (tick + origin_ticks) / TICKS_PER_BEAT

    for event in sorted(events, key=lambda event: event.tick):
        if event.velocity:
            sounding.setdefault(event.pitch, []).append(event)
        elif sounding.get(event.pitch):
            strike = sounding[event.pitch].pop(0)
            notes.append((beat(strike.tick), beat(event.tick), event.pitch, strike.velocity))
    notes += [(beat(strike.tick), beat(last), strike.pitch, strike.velocity)
              for strikes in sounding.values() for strike in strikes]
    return sorted(notes)


def _track(name: str, timed: list[tuple[int, mido.Message]]) -> mido.MidiTrack:
    """A track of (file tick, message), in time order (stable: a release before the strike
    that follows it at one tick stays before it)."""
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
    now = 0
    for tick, message in sorted(timed, key=lambda item: item[0]):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track
