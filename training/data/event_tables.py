"""What every importer hands over: pieces as one array of note events (`EventTable`), made
well formed by `notes_to_events`, and an `ImportReport` of what was read and skipped.

Worker processes and the on-disk cache move these compact arrays, not millions of small
objects. `corpus.py` builds on this module, and so do the importers it calls
(`music21_import`, `midi_folder`): it sits below all three.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


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
