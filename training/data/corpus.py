"""The training corpus: pieces of music as note events, from the music21 corpus and MIDI folders.

`load_corpus` is the public entry point. The importers (`music21_import`, `midi_folder`)
hand over an `EventTable` (`event_tables.py`: all pieces' events in one int32 array plus
offsets) so that worker processes and the on-disk cache move compact arrays, not millions
of small objects; `NoteEvent` lists are built once, at the end.

Every piece leaves here well formed: events sorted with `sort_events`, and per pitch a
strict alternation note-on, note-off, ..., note-off. Sources do not promise that (two choir
voices in unison, MIDI channels doubling a line, a note-on never released), so
`notes_to_events` (in `event_tables.py`) settles it once, for every importer.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent, sort_events
from antiphon.training.data.event_tables import EventTable, ImportReport
from antiphon.training.data.midi_folder import import_midi_folder
from antiphon.training.data.music21_import import import_music21_corpus

logger = logging.getLogger(__name__)


@dataclass
class Piece:
    """One piece of music: a tune, a chorale, a MIDI file."""

    id: str  # stable across machines and runs (the split hashes it): "bach/bwv1.6.mxl"
    source: str  # the music21 corpus name, or "midi:<folder name>" for a MIDI folder
    events: list[NoteEvent]  # sorted with sort_events; every note-on has its note-off


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
