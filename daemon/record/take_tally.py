"""What a list of takes says of each (its length, its exchanges, its models), counted from
its journal line by line and kept, so a list never holds a journal whole nor reads it twice.

A journal is append-only: the tally of a take keeps how far it has read (whole lines
only) and, listed again, reads only what was written since. A journal made anew (another
file, or shorter than what was read) is read from its start. A take of hours of controls
is tens of megabytes of JSON: read whole and made events it would be hundreds of megabytes
in the daemon's process (the web page lists the takes), where the music plays.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from antiphon.daemon.record.take_events import ANSWER_START, SETTINGS, TakeEvent, take_seconds

READ_BYTES = 256 * 1024  # read at a time
MAX_LINE_BYTES = 1 << 20  # a longer line is no event: skipped without being held whole
KEPT_TALLIES = 4096  # takes whose tally is kept (a folder of more reads the rest again)
HEAD_BYTES = 256  # a journal's first bytes (its header's start time): the same file still
END = "end"


@dataclass
class Tally:
    """A journal counted up to `offset` (the byte after its last whole line read)."""

    inode: tuple[int, int]  # (device, inode): another file is another journal
    head: bytes = b""  # its first bytes, as read: other ones, another journal
    offset: int = 0
    header: dict | None = None  # its first line, once read (None: not yet, or not one)
    last: float = 0.0  # the latest event's seconds
    ended: float | None = None
    exchanges: int = 0
    models: list[str] = field(default_factory=list)
    skipping: bool = False  # inside a line past MAX_LINE_BYTES

    @property
    def seconds(self) -> float:
        return max(self.last, self.ended or 0.0)


_tallies: dict[tuple[int, int], Tally] = {}  # by the journal's (device, inode)
_lock = threading.Lock()


def tally_journal(journal_fd: int, parse_row) -> Tally:  # noqa: ANN001 (takes._json_row)
    """The tally of the open journal, brought up to its end (the fd is left open). Rows
    are parsed with `parse_row(bytes) -> object` (JSON, or None)."""
    info = os.fstat(journal_fd)
    inode = (info.st_dev, info.st_ino)
    with _lock:
        tally = _tallies.get(inode)
    head = os.pread(journal_fd, HEAD_BYTES, 0)
    if tally is None or tally.offset > info.st_size or \
            head[:len(tally.head)] != tally.head:  # made anew, or another file
        tally = Tally(inode, head)
    else:
        tally = Tally(**{name: getattr(tally, name) for name in tally.__dataclass_fields__})
        tally.models = list(tally.models)
        tally.head = head
    pending = b""
    while True:
        block = os.pread(journal_fd, READ_BYTES, tally.offset + len(pending))
        if not block:
            break
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            tally.offset += len(line) + 1
            if tally.skipping:
                tally.skipping = False  # the end of a line too long: left out
                continue
            _count(tally, line, parse_row)
        if len(pending) > MAX_LINE_BYTES:
            tally.offset += len(pending)
            pending = b""
            tally.skipping = True
    with _lock:
        if len(_tallies) >= KEPT_TALLIES and inode not in _tallies:
            _tallies.pop(next(iter(_tallies)))
        _tallies[inode] = tally
    return tally


def _count(tally: Tally, line: bytes, parse_row) -> None:  # noqa: ANN001
    row = parse_row(line)
    if tally.offset == len(line) + 1:  # the first line: the header
        tally.header = row if isinstance(row, dict) else {}
        return
    try:
        if isinstance(row, dict) and row.get("kind") == END:
            tally.ended = take_seconds(row.get("t", 0.0))
            return
        event = TakeEvent.from_json(row)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return
    tally.last = max(tally.last, event.seconds)
    if event.kind == ANSWER_START:
        tally.exchanges += 1
    elif event.kind == SETTINGS and event.detail:
        model = event.detail.get("model")
        if model is not None and str(model) not in tally.models:
            tally.models.append(str(model))
