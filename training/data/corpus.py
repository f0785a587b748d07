"""The training corpus: pieces of music as note events, from the music21 corpus and MIDI folders.

`load_corpus` is the public entry point. The importers (`music21_import`, `midi_folder`)
hand over an `EventTable` (all pieces' events in one int32 array plus offsets) so that
worker processes and the on-disk cache move compact arrays, not millions of small objects;
`NoteEvent` lists are built once, at the end.

Every piece leaves here well formed: events sorted with `sort_events`, and per pitch a
strict alternation note-on, note-off, ..., note-off. Sources do not promise that (two choir
voices in unison, MIDI channels doubling a line, a note-on never released), so
`notes_to_events` settles it once, for every importer.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent, sort_events

logger = logging.getLogger(__name__)


_Task = TypeVar("_Task")
_Result = TypeVar("_Result")


@dataclass
class Piece:
    """One piece of music: a tune, a chorale, a MIDI file."""

    id: str  # stable across machines and runs (the split hashes it): "bach/bwv1.6.mxl"
    source: str  # the music21 corpus name, or "midi:<folder name>" for a MIDI folder
    events: list[NoteEvent]  # sorted with sort_events; every note-on has its note-off


@dataclass
class EventTable:
    """Pieces as arrays: the form importers return, workers send and the cache stores."""

    source: str
    ids: list[str]  # one per piece
    events: np.ndarray  # int32 [N, 3]: tick, pitch, velocity of all pieces back to back
    offsets: np.ndarray  # int64 [pieces + 1]: piece i is events[offsets[i]:offsets[i + 1]]

    @classmethod
    def from_pieces(cls, source: str, ids: list[str], arrays: list[np.ndarray]) -> EventTable:
        lengths = [len(a) for a in arrays]
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
        events = np.concatenate(arrays) if arrays else np.zeros((0, 3), np.int32)
        return cls(source, list(ids), events.astype(np.int32, copy=False), offsets)

    def __len__(self) -> int:
        return len(self.ids)

    def piece_events(self, index: int) -> np.ndarray:
        return self.events[self.offsets[index] : self.offsets[index + 1]]


@dataclass
class ImportReport:
    """What an import did: files read, pieces kept, and every item skipped with its reason."""

    source: str
    files: int = 0  # files found (parsed, or covered by the cache)
    pieces: int = 0  # pieces imported
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or piece id, reason)
    from_cache: bool = False  # True when the pieces came from the cache without parsing
    seconds: float = 0.0  # wall time of the import

    def skip(self, item: str, reason: str, level: int = logging.WARNING) -> None:
        """Record (and log) an item left out; never raises, so one bad file costs one file.
        Deliberate exclusions (an analysis file, a second encoding) pass level=INFO."""
        self.skipped.append((item, reason))
        logger.log(level, "%s: skipped %s: %s", self.source, item, reason)

    def reason_counts(self) -> Counter[str]:
        """Skips grouped by the kind of reason (the text before the first ':')."""
        return Counter(reason.split(":", 1)[0] for _, reason in self.skipped)

    def __str__(self) -> str:
        origin = "cache" if self.from_cache else "parsed"
        text = (f"{self.source}: {self.pieces} pieces from {self.files} files ({origin}, "
                f"{self.seconds:.1f} s), {len(self.skipped)} skipped")
        if self.skipped:
            kinds = ", ".join(f"{kind} x{n}" for kind, n in self.reason_counts().most_common())
            text += f" [{kinds}]"
        return text


@dataclass
class CorpusImport:
    """`import_corpus`'s answer: the pieces, and one report per source."""

    pieces: list[Piece]
    reports: list[ImportReport]


@dataclass(frozen=True)
class CorpusStats:
    pieces: int
    notes: int
    beats: float  # summed piece lengths, each from tick 0 to its last note-off

    def __str__(self) -> str:
        return f"{self.pieces} pieces, {self.notes} notes, {self.beats:.0f} beats"


def notes_to_events(notes: np.ndarray) -> np.ndarray:
    """Well-formed, sorted events int32 [M, 3] from notes int [N, 4] (start, end, pitch, velocity).

    Notes of zero length and pitches outside 0..127 are dropped; velocities are clamped to
    1..127. Where notes of one pitch overlap, the pitch sounds once: notes struck together
    merge (the louder velocity wins), and a note struck while the pitch sounds re-strikes it
    and holds until the later of the two ends, as a pianist playing both lines would.
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    keep = (notes[:, 1] > notes[:, 0]) & (notes[:, 2] >= 0) & (notes[:, 2] <= 127)
    notes = notes[keep]
    if len(notes) == 0:
        return np.zeros((0, 3), np.int32)
    notes[:, 3] = np.clip(notes[:, 3], 1, 127)
    notes = notes[np.lexsort((-notes[:, 1], notes[:, 0], notes[:, 2]))]  # pitch, start, end
    merged: list[list[int]] = []
    for start, end, pitch, velocity in notes.tolist():
        last = merged[-1] if merged else None
        if last is None or last[2] != pitch or start >= last[1]:
            merged.append([start, end, pitch, velocity])
        elif start == last[0]:  # struck together: one note
            last[1] = max(last[1], end)
            last[3] = max(last[3], velocity)
        else:  # struck again while sounding: cut the first, the new one holds on
            end = max(end, last[1])
            last[1] = start
            merged.append([start, end, pitch, velocity])
    table = np.array(merged, dtype=np.int64)
    ons = np.stack([table[:, 0], table[:, 2], table[:, 3]], axis=1)
    offs = np.stack([table[:, 1], table[:, 2], np.zeros(len(table), np.int64)], axis=1)
    events = np.concatenate([ons, offs])
    # the sort_events order: tick, then note-offs before note-ons, then pitch
    events = events[np.lexsort((events[:, 1], events[:, 2] > 0, events[:, 0]))]
    return events.astype(np.int32)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Building millions of small objects triggers the cyclic collector over and over,
    for nothing (events hold no cycles); pausing it makes loading ~3x faster."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def pieces_from_table(table: EventTable) -> list[Piece]:
    """`Piece`s with `NoteEvent` lists, built in one pass over the table."""
    bounds = table.offsets.tolist()
    with _collector_paused():
        # three flat columns, not a list per row: 1.5M small lists would cost more than
        # the events themselves
        ticks, pitches, velocities = (table.events[:, column].tolist() for column in range(3))
        return [
            Piece(piece_id, table.source,
                  list(map(NoteEvent, ticks[lo:hi], pitches[lo:hi], velocities[lo:hi])))
            for piece_id, lo, hi in zip(table.ids, bounds[:-1], bounds[1:], strict=True)
        ]


def map_in_workers(
    function: Callable[[_Task], _Result], tasks: Sequence[_Task], workers: int | None
) -> Iterator[_Result]:
    """`map(function, tasks)` in worker processes, results in task order.

    Workers are spawned, not forked: the caller may hold torch threads or open ports, which
    a fork would copy in an undefined state. `workers=1` runs in this process (debugging).
    """
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(tasks) <= 1:
        yield from map(function, tasks)
        return
    # chunks big enough to amortise the pickling, small enough to balance the load
    chunksize = max(1, min(32, len(tasks) // (workers * 16)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(function, tasks, chunksize=chunksize)


def import_corpus(
    sources: Sequence[str],
    midi_dirs: Iterable[Path] = (),
    cache_dir: Path | None = None,
    workers: int | None = None,
    limit: int | None = None,
    drop_duplicates: bool = True,
) -> CorpusImport:
    """The pieces of the named music21 corpora and MIDI folders, with a report per source.

    `limit` caps the pieces taken from each source (the first ones, in a stable order).
    With `drop_duplicates`, a piece whose events equal an earlier piece's is left out
    (reported); the cache keeps every piece, so this costs nothing to change.
    """
    # Imported here, not at the top: the importers build on this module's EventTable and
    # ImportReport, so a top-level import would be circular.
    from antiphon.training.data.midi_folder import import_midi_folder
    from antiphon.training.data.music21_import import import_music21_corpus

    tables: list[EventTable] = []
    reports: list[ImportReport] = []
    for name in sources:
        table, report = import_music21_corpus(name, cache_dir=cache_dir, workers=workers,
                                              limit=limit)
        tables.append(table)
        reports.append(report)
    for folder in midi_dirs:
        table, report = import_midi_folder(Path(folder), workers=workers, limit=limit)
        tables.append(table)
        reports.append(report)
    seen: dict[str, str] = {}
    for table in tables:
        for piece_id in table.ids:
            if piece_id in seen:
                raise ValueError(
                    f"piece id {piece_id!r} comes from both {seen[piece_id]!r} and "
                    f"{table.source!r}; give the MIDI folders distinct names")
            seen[piece_id] = table.source
    if drop_duplicates:
        first_with: dict[bytes, str] = {}
        tables = [_without_duplicates(t, r, first_with) for t, r in zip(tables, reports,
                                                                         strict=True)]
    pieces = [piece for table in tables for piece in pieces_from_table(table)]
    for report in reports:
        logger.info("%s", report)
    return CorpusImport(pieces, reports)


def load_corpus(
    sources: Sequence[str],
    midi_dirs: Iterable[Path] = (),
    cache_dir: Path | None = None,
    workers: int | None = None,
    limit: int | None = None,
    drop_duplicates: bool = True,
) -> list[Piece]:
    """The pieces of the named music21 corpora and MIDI folders (see `import_corpus`)."""
    return import_corpus(sources, midi_dirs, cache_dir, workers, limit, drop_duplicates).pieces


def _without_duplicates(table: EventTable, report: ImportReport,
                        first_with: dict[bytes, str]) -> EventTable:
    """The table less pieces whose events equal an earlier piece's (`first_with` maps a
    digest of events to the first piece id). The Essen collection repeats ~1% of its tunes
    across files; a copy left in both the train and the test split would flatter the model."""
    keep = []
    for index, piece_id in enumerate(table.ids):
        digest = hashlib.blake2b(table.piece_events(index).tobytes(), digest_size=16).digest()
        if digest in first_with:
            report.skip(piece_id, f"duplicate: same notes as {first_with[digest]}", logging.INFO)
        else:
            first_with[digest] = piece_id
            keep.append(index)
    if len(keep) == len(table):
        return table
    report.pieces = len(keep)
    return EventTable.from_pieces(table.source, [table.ids[i] for i in keep],
                                  [table.piece_events(i) for i in keep])


def split_position(piece_id: str) -> float:
    """Where a piece's id hashes to, uniform in [0, 1): its place in the split."""
    digest = hashlib.blake2b(piece_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of(piece_id: str, valid: float = 0.05, test: float = 0.05) -> str:
    """"train", "valid" or "test" for one piece, from a hash of its id alone, so a piece
    stays in its split whatever else the corpus holds and in whatever order."""
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise ValueError(f"valid and test must be fractions in [0, 1) summing below 1, "
                         f"got valid={valid}, test={test}")
    position = split_position(piece_id)
    if position < test:
        return "test"
    if position < test + valid:
        return "valid"
    return "train"


def split_pieces(
    pieces: Iterable[Piece], valid: float = 0.05, test: float = 0.05
) -> dict[str, list[Piece]]:
    """Pieces by split ("train", "valid", "test"), each list in the order given.

    A small corpus (a quick try with `--limit 20`) can hash no piece into valid or test;
    then the train piece whose hash lies nearest that split's interval moves there, so any
    corpus of three pieces or more trains and reports. Large corpora never need it, and a
    piece's split still depends on its id and the set of pieces only."""
    splits: dict[str, list[Piece]] = {"train": [], "valid": [], "test": []}
    for piece in pieces:
        splits[split_of(piece.id, valid, test)].append(piece)
    for name, fraction in (("test", test), ("valid", valid)):
        if fraction > 0 and not splits[name] and len(splits["train"]) >= 2:
            nearest = min(splits["train"], key=lambda piece: split_position(piece.id))
            splits["train"].remove(nearest)
            splits[name].append(nearest)
    return splits


def corpus_stats(pieces: Iterable[Piece]) -> CorpusStats:
    """Pieces, notes (note-ons) and beats (each piece from tick 0 to its last event)."""
    count = notes = ticks = 0
    for piece in pieces:
        count += 1
        notes += sum(1 for event in piece.events if event.velocity > 0)
        ticks += piece.events[-1].tick if piece.events else 0
    return CorpusStats(count, notes, ticks / TICKS_PER_BEAT)


def check_well_formed(events: Sequence[NoteEvent]) -> None:
    """Raise ValueError unless the events are sorted and per pitch strictly alternate
    note-on, note-off, ending released (what every importer promises)."""
    if list(events) != sort_events(events):
        raise ValueError("events are not in sort_events order")
    sounding: set[int] = set()
    for event in events:
        if event.velocity > 0:
            if event.pitch in sounding:
                raise ValueError(f"pitch {event.pitch} struck again at tick {event.tick} "
                                 "while sounding")
            sounding.add(event.pitch)
        elif event.pitch not in sounding:
            raise ValueError(f"note-off for silent pitch {event.pitch} at tick {event.tick}")
        else:
            sounding.discard(event.pitch)
    if sounding:
        raise ValueError(f"pitches never released: {sorted(sounding)}")
