"""Import a folder of MIDI files (recursively) as pieces on the 24-ticks-per-beat grid.

Time is musical: a file's ticks become beats through its own `ticks_per_beat`; tempo
changes are ignored, as the rest of Antiphon counts beats, not seconds. All tracks and
channels are merged into one part, except the drum channel (10; index 9), whose notes are
sounds, not pitches. A file that cannot be read is skipped and reported, never fatal.

Notes are paired per channel the way `close_open_notes` reads a stream: a note-on for a
pitch that already sounds re-strikes it, a note-off ends it, and what still sounds at the
end of the file is released there. Overlaps between channels are settled afterwards, for
all importers alike, by `notes_to_events`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import mido
import numpy as np

from antiphon.engine.events import (
    TICKS_PER_BEAT,
    NoteEvent,
    close_open_notes,
    note_event_from_bytes,
)
from antiphon.training.data.event_tables import EventTable, ImportReport, notes_to_events
from antiphon.training.data.workers import map_in_workers

logger = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi")
DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0 as in the status byte
# What mido raises for a file that is not MIDI, is cut short, or holds bytes out of range.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError)


def find_midi_files(folder: Path) -> list[Path]:
    """Every .mid/.midi file under `folder` (any depth, any case of suffix), sorted."""
    if not folder.is_dir():
        raise NotADirectoryError(f"MIDI folder {folder} does not exist or is not a folder")
    return sorted(path for path in folder.rglob("*")
                  if path.suffix.lower() in MIDI_SUFFIXES and path.is_file())


def to_grid(file_ticks: np.ndarray, ticks_per_beat: int) -> np.ndarray:
    """File ticks to TICKS_PER_BEAT ticks, rounding halves up, in exact integer arithmetic."""
    return (file_ticks * (2 * TICKS_PER_BEAT) + ticks_per_beat) // (2 * ticks_per_beat)


def _pair_notes(events: list[NoteEvent]) -> list[list[int]]:
    """[start, end, pitch, velocity] from one channel's stream in which nothing stays open."""
    notes = []
    sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start tick, velocity)
    for event in events:
        if event.pitch in sounding:  # a note-off, or a re-strike: either ends what sounds
            start, velocity = sounding.pop(event.pitch)
            notes.append([start, event.tick, event.pitch, velocity])
        if event.velocity > 0:
            sounding[event.pitch] = (event.tick, event.velocity)
    return notes


def read_midi_notes(path: Path) -> np.ndarray:
    """Notes int64 [N, 4] (start, end, pitch, velocity) on the TICKS_PER_BEAT grid.

    Raises OSError, EOFError or ValueError (and, from mido's parser, KeyError/IndexError)
    for a file that cannot be read as MIDI or whose time is not counted in beats.
    """
    midi = mido.MidiFile(path)
    if midi.type == 2:
        raise ValueError("type 2 MIDI (independent sequences) has no single timeline")
    ticks_per_beat = midi.ticks_per_beat
    if not 0 < ticks_per_beat < 0x8000:
        # a set top bit means SMPTE frames per second: time in seconds, not beats
        raise ValueError(f"time division {ticks_per_beat:#06x} is not in ticks per beat")
    by_channel: dict[int, list[NoteEvent]] = {}
    tick = 0
    for message in mido.merge_tracks(midi.tracks):
        tick += message.time
        if message.type not in ("note_on", "note_off") or message.channel == DRUM_CHANNEL:
            continue
        event = note_event_from_bytes(message.bytes(), tick)
        if event is not None:
            by_channel.setdefault(message.channel, []).append(event)
    notes = []
    for events in by_channel.values():
        notes.extend(_pair_notes(close_open_notes(events, tick)))
    file_notes = np.array(notes, dtype=np.int64).reshape(-1, 4)
    file_notes = file_notes[file_notes[:, 1] > file_notes[:, 0]]  # on and off at one instant
    grid = file_notes.copy()
    grid[:, 0] = to_grid(file_notes[:, 0], ticks_per_beat)
    # a note played, however short, is heard: it keeps at least one tick
    grid[:, 1] = np.maximum(to_grid(file_notes[:, 1], ticks_per_beat), grid[:, 0] + 1)
    return grid


def read_midi_task(path: Path) -> tuple[np.ndarray | None, str]:
    """Runs in a worker: (events, "") or (None, why the file was skipped)."""
    try:
        events = notes_to_events(read_midi_notes(path))
    except EOFError:  # mido says nothing more than the type
        return None, "EOFError: the file ends before its data does (truncated?)"
    except READ_ERRORS as err:
        return None, f"{type(err).__name__}: {err}"
    if len(events) == 0:
        return None, "no notes: nothing but drums, or no note-ons at all"
    return events, ""


def import_midi_folder(
    folder: Path, workers: int | None = None, limit: int | None = None
) -> tuple[EventTable, ImportReport]:
    """The MIDI files under `folder` as an EventTable (the first `limit` files, if given).

    Piece ids are "<folder name>/<path inside the folder>", stable wherever the folder lives.
    """
    started = time.monotonic()
    source = f"midi:{folder.name}"
    report = ImportReport(source)
    paths = find_midi_files(folder)
    if limit is not None:
        paths = paths[:limit]
    report.files = len(paths)
    ids: list[str] = []
    arrays: list[np.ndarray] = []
    for path, (events, reason) in zip(paths, map_in_workers(read_midi_task, paths, workers),
                                      strict=True):
        piece_id = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        if events is None:
            report.skip(piece_id, reason)
        else:
            ids.append(piece_id)
            arrays.append(events)
    table = EventTable.from_pieces(source, ids, arrays)
    report.pieces = len(table)
    report.seconds = time.monotonic() - started
    return table, report
