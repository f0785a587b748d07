"""TakeRecorder: the journal of a take, written as it is played, safe against a crash.

A FeedListener. `open()` (before the feed starts) checks or makes the takes folder, makes
a take.mid of every take left unfinished by a process that died, removes takes past
KeepPolicy's age and then the oldest past its total size (upkeep.py), and begins a new
take: its folder and journal, whose header goes to the disk at once.

The journal is append-only, one JSON line per event. `take_events` only buffers; `flush`
(the feed calls it at least every half second) writes the buffer out to the operating
system, so a kill -9 loses at most the last half second, and a line the kill cut in two is
left out when the journal is read. No fsync: the take survives the process, not a power
cut. An OSError on writing (a full disk) is said once in the log and ends the recording;
playing goes on. `close()` writes the end line and the take's take.mid (written aside and
renamed, so a take.mid is always whole: its presence says the take is finished).

Every folder and file goes through config/private_folder.py (open_folder,
open_private_file): a takes folder another user could change, or a link in place of a
take's folder or file, is refused with UnsafePath.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from antiphon.daemon.config.private_folder import TAKES, open_folder, open_private_file
from antiphon.daemon.record.take_events import TakeEvent
from antiphon.daemon.record.takes import (
    END,
    FORMAT,
    ID_TIME_FORMAT,
    JOURNAL,
    TakeError,
    checked_folder,
)
from antiphon.daemon.record.upkeep import (
    DEFAULT_KEEP,
    KeepPolicy,
    finish_abandoned,
    finish_take,
    hold_take,
    process_mark,
    release_take,
    remove_old_takes,
)

log = logging.getLogger(__name__)

BUFFER_LIMIT = 256 * 1024  # bytes buffered before a write, whatever the flush's time
MAX_CLASHES = 1000  # takes begun within one second (the id's resolution)
# How a take's journal is opened: (take folder's descriptor, name, the folder's path) -> a
# writable descriptor. Tests give one that opens /dev/full, to meet a real full disk.
JournalOpener = Callable[[int, str, Path], int]


def open_journal(take_fd: int, name: str, where: Path) -> int:
    return open_private_file(take_fd, name, where, create=True, use=TAKES)


class TakeRecorder:
    """The journal of one take (module docstring); a FeedListener."""

    def __init__(self, folder: Path, keep: KeepPolicy = DEFAULT_KEEP, *,
                 opener: JournalOpener = open_journal) -> None:
        self.folder = folder if folder.is_absolute() else Path.cwd() / folder
        self.keep = keep
        self._opener = opener
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._journal_fd: int | None = None
        self._last_seconds = 0.0
        self._failed: str | None = None
        self.take_id: str | None = None
        self.skipped = 0  # events JSON could not hold (a NaN), left out of the journal

    @property
    def recording(self) -> bool:
        """A take is open and its writes succeed."""
        return self._journal_fd is not None and self._failed is None

    @property
    def failure(self) -> str | None:
        """Why the recording stopped (a full disk), else None."""
        return self._failed

    def open(self) -> str:
        """Tidy the takes folder and begin a new take; its id. Raises UnsafePath (an
        OSError) for a folder another user could change, OSError when it cannot be made
        (the daemon may play on without recording). One take per recorder."""
        if self.take_id is not None:
            raise RuntimeError("a TakeRecorder records one take; make another for the next")
        folder_fd = open_folder(checked_folder(self.folder), create=True, use=TAKES)
        try:
            finish_abandoned(self.folder, folder_fd)
            removed = remove_old_takes(self.folder, folder_fd, self.keep, now=time.time())
            if removed:  # said, so a user who misses a take knows where it went
                log.info("removed %d old take%s (record_keep_days %s, record_keep_mb %s): %s",
                         len(removed), "" if len(removed) == 1 else "s", self.keep.max_days,
                         self.keep.max_mb, ", ".join(removed))
            take_id = _make_take_folder(folder_fd)
            hold_take(self.folder, take_id)
        finally:
            os.close(folder_fd)
        where = self.folder / take_id
        take_fd = open_folder(where, create=False, use=TAKES)
        if take_fd is None:
            raise OSError(f"the take folder {str(where)!r} went away as it was made")
        try:
            journal_fd = self._opener(take_fd, JOURNAL, where)
        except BaseException:
            release_take(self.folder, take_id)
            raise
        finally:
            os.close(take_fd)
        header = {"format": FORMAT, "started": datetime.now().astimezone().isoformat(),
                  "pid": os.getpid(), "process": process_mark(os.getpid())}
        with self._lock:
            self.take_id = take_id
            self._journal_fd = journal_fd
            self._buffer(header)
            self._write_out()
        return take_id

    def take_events(self, events: Sequence[TakeEvent]) -> None:
        with self._lock:
            if not self.recording:
                return
            for event in events:
                try:
                    self._buffer(event.as_json())
                except (TypeError, ValueError):  # NaN or an object JSON cannot hold
                    self.skipped += 1
                    continue
                self._last_seconds = max(self._last_seconds, event.seconds)
            if self._pending_bytes >= BUFFER_LIMIT:
                self._write_out()

    def flush(self) -> None:
        with self._lock:
            self._write_out()

    def close(self) -> None:
        """The end line, then take.mid. A second call does nothing."""
        with self._lock:
            if self._journal_fd is None:
                return
            self._buffer({"kind": END, "t": round(self._last_seconds, 6)})
            self._write_out()
            os.close(self._journal_fd)
            self._journal_fd = None
        take_id = self.take_id
        assert take_id is not None
        try:
            finish_take(self.folder / take_id, take_id)
        except (OSError, TakeError) as err:
            log.warning("the take %s was kept as its journal only; no take.mid (%s)",
                        take_id, err)
        finally:
            release_take(self.folder, take_id)

    def _buffer(self, row: dict) -> None:
        line = (json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode()
        self._pending.append(line)
        self._pending_bytes += len(line)

    def _write_out(self) -> None:
        """Write what is buffered to the OS; an OSError ends the recording, said once."""
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if not data or self._journal_fd is None or self._failed is not None:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._journal_fd, view):]
        except OSError as err:
            reason = "the disk is full" if err.errno == errno.ENOSPC else \
                (err.strerror or str(err))
            self._failed = f"{reason} ({JOURNAL} of take {self.take_id} in " \
                           f"{str(self.folder)!r})"
            log.warning("the recorder stopped: %s; playing goes on", self._failed)


def _make_take_folder(folder_fd: int) -> str:
    """A new take's folder, named for the local time, -2, -3, ... on a clash."""
    stem = datetime.now().strftime(ID_TIME_FORMAT)
    for number in range(1, MAX_CLASHES + 1):
        take_id = stem if number == 1 else f"{stem}-{number}"
        try:
            os.mkdir(take_id, 0o700, dir_fd=folder_fd)
            return take_id
        except FileExistsError:
            continue
    raise OSError(f"{MAX_CLASHES} takes began within one second")
