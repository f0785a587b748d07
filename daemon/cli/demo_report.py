"""What the demo heard: the notes of the call and the answer, the .mid file, the summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido
from rich.console import Console
from rich.table import Table

from antiphon.engine.events import NOTE_OFF_STATUS, NOTE_ON_STATUS

MIDI_FILE_TICKS_PER_BEAT = 480
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class Note:
    start_beats: float  # from the call's first note
    end_beats: float
    pitch: int
    velocity: int


@dataclass
class DemoResult:
    transport: str  # what carried the MIDI, in words
    bpm: float
    call: list[Note]
    answer: list[Note]
    midi_file: Path
    generation_ms: list[float] = field(default_factory=list)  # per answer
    late_answers: int = 0  # answers pushed to a later grid point
    unmatched_note_ons: int = 0  # answer notes that never got a note-off (should be 0)

    @property
    def call_end_beats(self) -> float:
        """The call's last release."""
        return max((note.end_beats for note in self.call), default=0.0)

    @property
    def first_answer_delay_beats(self) -> float | None:
        """From the call's last release to the answer's first note."""
        if not self.answer:
            return None
        return self.answer[0].start_beats - self.call_end_beats

    @property
    def answer_duration_beats(self) -> float:
        if not self.answer:
            return 0.0
        return max(note.end_beats for note in self.answer) - self.answer[0].start_beats


def pair_notes(timed_messages: Sequence[tuple[float, Sequence[int]]]) -> tuple[list[Note], int]:
    """Notes from (beat, message bytes) in time order, and how many note-ons had no
    note-off (those end at the last message)."""
    sounding: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch) -> on
    notes: list[Note] = []
    for beat, message in timed_messages:
        if len(message) < 3:
            continue
        status, key = message[0] & 0xF0, (message[0] & 0x0F, message[1])
        if status == NOTE_ON_STATUS and message[2] > 0:
            if key in sounding:  # struck again without a release: end the old note here
                start, velocity = sounding.pop(key)
                notes.append(Note(start, beat, key[1], velocity))
            sounding[key] = (beat, message[2])
        elif status in (NOTE_ON_STATUS, NOTE_OFF_STATUS) and key in sounding:
            start, velocity = sounding.pop(key)
            notes.append(Note(start, beat, key[1], velocity))
    last = timed_messages[-1][0] if timed_messages else 0.0
    notes.extend(Note(start, last, key[1], velocity) for key, (start, velocity) in sounding.items())
    notes.sort(key=lambda note: (note.start_beats, note.pitch))
    return notes, len(sounding)


def write_midi_file(path: Path, call: list[Note], answer: list[Note], bpm: float,
                    answer_channel: int) -> None:
    """A type-1 file: a tempo map, then the call and the answer on tracks of their own."""
    midi = mido.MidiFile(type=1, ticks_per_beat=MIDI_FILE_TICKS_PER_BEAT)
    midi.tracks.append(_track("Call", call, channel=0, tempo=mido.bpm2tempo(bpm)))
    midi.tracks.append(_track("Answer", answer, channel=answer_channel))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        midi.save(path)
    except OSError as err:
        raise OSError(f"cannot write the demo's MIDI file {str(path)!r}: {err}") from err


def _track(name: str, notes: list[Note], channel: int, tempo: int | None = None) -> mido.MidiTrack:
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
    if tempo is not None:
        track.append(mido.MetaMessage("set_tempo", tempo=tempo))
    events = []  # (tick, is note-on, message); releases sort first at a shared tick
    for note in notes:
        start = max(0, round(note.start_beats * MIDI_FILE_TICKS_PER_BEAT))
        end = max(start + 1, round(note.end_beats * MIDI_FILE_TICKS_PER_BEAT))
        events.append((start, 1, mido.Message(
            "note_on", channel=channel, note=note.pitch, velocity=note.velocity)))
        events.append((end, 0, mido.Message("note_off", channel=channel, note=note.pitch)))
    events.sort(key=lambda item: (item[0], item[1]))
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def pitch_name(pitch: int) -> str:
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def pitch_range(notes: list[Note]) -> str:
    if not notes:
        return "-"
    low = min(note.pitch for note in notes)
    high = max(note.pitch for note in notes)
    return f"{pitch_name(low)}-{pitch_name(high)} ({high - low} semitones)"


def render_summary(result: DemoResult, console: Console) -> None:
    seconds_per_beat = 60.0 / result.bpm
    table = Table(title="Antiphon demo", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("transport", result.transport)
    table.add_row("tempo", f"{result.bpm:g} BPM")
    table.add_row("call", f"{len(result.call)} notes, {pitch_range(result.call)}, "
                  f"{result.call_end_beats:.2f} beats")
    table.add_row("answer", f"{len(result.answer)} notes, {pitch_range(result.answer)}")
    delay = result.first_answer_delay_beats
    table.add_row(
        "first answer note",
        "none" if delay is None
        else f"{delay * seconds_per_beat * 1e3:.0f} ms ({delay:.2f} beats) after the call ended",
    )
    duration = result.answer_duration_beats
    table.add_row("answer duration",
                  f"{duration:.2f} beats ({duration * seconds_per_beat:.2f} s)")
    if result.generation_ms:
        table.add_row("generation", f"{result.generation_ms[0]:.1f} ms")
    if result.late_answers:
        table.add_row("late answers", str(result.late_answers))
    if result.unmatched_note_ons:
        table.add_row("[red]notes left sounding[/]", str(result.unmatched_note_ons))
    console.print(table)
    # The file's path on a line of its own, never cut to the table's width: a reader must
    # be able to copy where the demo went, however deep the folder.
    console.print(f"MIDI file: {result.midi_file}", soft_wrap=True, highlight=False)
