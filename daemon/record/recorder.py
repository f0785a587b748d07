"""TakeRecorder: the journal of a take, written as it is played, safe against a crash.

A FeedListener. `open()` (before the feed starts) checks or makes the takes folder, makes
a take.mid of every take left unfinished by a process that died, removes takes past
KeepPolicy's age and then the oldest past its total size, and begins a new take: its
folder and journal, whose header goes to the disk at once.

A take counts as unfinished by a dead process when its journal's header names a pid no
process holds, or one a later process holds (the header's "process" mark: the boot and the
process's start), or this process's own pid while this process has it open no longer.

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from antiphon.daemon.config.private_folder import open_folder, open_private_file
from antiphon.daemon.record.midi_export import take_to_midi
from antiphon.daemon.record.take_events import Take, TakeEvent
from antiphon.daemon.record.takes import (
    END,
    FORMAT,
    ID_TIME_FORMAT,
    JOURNAL,
    TAKE_MIDI,
    TakeError,
    has_file,
    is_take_id,
    read_journal,
)

log = logging.getLogger(__name__)

MIDI_PART = TAKE_MIDI + ".part"
BUFFER_LIMIT = 256 * 1024  # bytes buffered before a write, whatever the flush's time
MAX_CLASHES = 1000  # takes begun within one second (the id's resolution)
# How a take's journal is opened: (take folder's descriptor, name, the folder's path) -> a
# writable descriptor. Tests give one that opens /dev/full, to meet a real full disk.
JournalOpener = Callable[[int, str, Path], int]
# The takes this process has open now, (folder, id): an unfinished take of this process's
# pid that is not among them was left by a recorder that never closed.
_open_takes: set[tuple[Path, str]] = set()
_open_takes_lock = threading.Lock()


def open_journal(take_fd: int, name: str, where: Path) -> int:
    return open_private_file(take_fd, name, where, create=True)


@dataclass(frozen=True)
class KeepPolicy:
    """How much of the past is kept: takes older than max_days are removed, then the oldest
    while all of them together are over max_mb. None: no such limit."""

    max_mb: float | None = 500.0
    max_days: float | None = 90.0


class TakeRecorder:
    """The journal of one take (module docstring); a FeedListener."""

    def __init__(self, folder: Path, keep: KeepPolicy = KeepPolicy(), *,
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
        folder_fd = open_folder(self.folder, create=True)
        try:
            finish_abandoned(self.folder, folder_fd)
            remove_old_takes(self.folder, folder_fd, self.keep, now=time.time())
            take_id = _make_take_folder(folder_fd)
            with _open_takes_lock:
                _open_takes.add((self.folder, take_id))
        finally:
            os.close(folder_fd)
        where = self.folder / take_id
        take_fd = open_folder(where, create=False)
        if take_fd is None:
            raise OSError(f"the take folder {str(where)!r} went away as it was made")
        try:
            journal_fd = self._opener(take_fd, JOURNAL, where)
        except BaseException:
            with _open_takes_lock:
                _open_takes.discard((self.folder, take_id))
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
            with _open_takes_lock:
                _open_takes.discard((self.folder, take_id))

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


def finish_take(where: Path, take_id: str) -> Take:
    """Write take.mid of the take in `where` from its journal (aside, then renamed)."""
    take_fd = open_folder(where, create=False)
    if take_fd is None:
        raise OSError(f"the take folder {str(where)!r} is gone")
    try:
        take = read_journal(take_fd, where, take_id)
        midi = take_to_midi(take)
        part_fd = open_private_file(take_fd, MIDI_PART, where, create=True)
        os.ftruncate(part_fd, 0)  # a part left by a crash
        with os.fdopen(part_fd, "wb") as part:
            midi.save(file=part)
        os.rename(MIDI_PART, TAKE_MIDI, src_dir_fd=take_fd, dst_dir_fd=take_fd)
        return take
    finally:
        os.close(take_fd)


def process_mark(pid: int) -> str | None:
    """What tells this process from a later one given the same pid: the boot and the
    moment it started since (Linux's /proc); None where the system does not say."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        with open(f"/proc/{pid}/stat", "rb") as status:
            # The command's name, in parentheses, may hold spaces: count after the last ')'.
            fields = status.read().rsplit(b")", 1)[1].split()
        return f"{boot_id}:{int(fields[19])}"
    except (OSError, IndexError, ValueError):
        return None


def _writer_alive(header: dict) -> bool:
    """Whether the process that began the journal still runs: its pid is taken, and (where
    the header has its mark) by that same process, not a later one after a reboot."""
    pid = header.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process holds that number
    mark = header.get("process")
    return mark is None or mark == process_mark(pid)


def _journal_header(take_fd: int, where: Path) -> dict | None:
    fd = open_private_file(take_fd, JOURNAL, where, create=False, writable=False)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as journal:
        first = journal.readline()
    try:
        header = json.loads(first) if first.endswith(b"\n") else None
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def _abandoned(take_fd: int, folder: Path, take_id: str) -> bool:
    """Unfinished (a journal, no take.mid) and no live process writes it: its process is
    gone, or it is this process's and not a take open now."""
    with _open_takes_lock:
        if (folder, take_id) in _open_takes:
            return False
    where = folder / take_id
    if has_file(take_fd, TAKE_MIDI):
        return False
    header = _journal_header(take_fd, where)
    if header is None:
        return False
    return header.get("pid") == os.getpid() or not _writer_alive(header)


def finish_abandoned(folder: Path, folder_fd: int) -> list[str]:
    """Make take.mid for every take a dead process left unfinished; the ids finished."""
    finished = []
    for take_id in sorted(name for name in os.listdir(folder_fd) if is_take_id(name)):
        where = folder / take_id
        try:
            take_fd = open_folder(where, create=False)
            if take_fd is None:
                continue
            try:
                abandoned = _abandoned(take_fd, folder, take_id)
            finally:
                os.close(take_fd)
            if abandoned:
                finish_take(where, take_id)
                finished.append(take_id)
                log.info("the take %s, left unfinished by a process that ended, was "
                         "finished from its journal", take_id)
        except (OSError, TakeError) as err:
            log.warning("the unfinished take %s could not be finished: %s", take_id, err)
    return finished


def _last_played(take_fd: int) -> float:
    """When the take's journal was last written (a take.mid made later, by the recovery,
    does not make an old take young); the folder's time when it has none."""
    try:
        return os.stat(JOURNAL, dir_fd=take_fd, follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return os.fstat(take_fd).st_mtime


def _take_size(take_fd: int) -> int:
    total = 0
    for name in os.listdir(take_fd):
        try:
            total += os.stat(name, dir_fd=take_fd, follow_symlinks=False).st_size
        except OSError:
            continue
    return total


def _in_use(take_fd: int, folder: Path, take_id: str) -> bool:
    """A take being written now: open in this process, or unfinished by a live one."""
    with _open_takes_lock:
        if (folder, take_id) in _open_takes:
            return True
    if has_file(take_fd, TAKE_MIDI):
        return False
    header = _journal_header(take_fd, folder / take_id)
    return header is not None and header.get("pid") != os.getpid() and \
        _writer_alive(header)


def remove_old_takes(folder: Path, folder_fd: int, keep: KeepPolicy, *, now: float,
                     open_take: str | None = None) -> list[str]:
    """Remove takes whose journal was last written longer than keep.max_days ago, then the
    oldest while all together exceed keep.max_mb; never `open_take` nor one a live process
    writes. The ids removed, oldest first."""
    takes: list[tuple[str, float, int]] = []  # id, last write, bytes
    for take_id in sorted(name for name in os.listdir(folder_fd) if is_take_id(name)):
        if take_id == open_take:
            continue
        where = folder / take_id
        try:
            take_fd = open_folder(where, create=False)
            if take_fd is None:
                continue
            try:
                if _in_use(take_fd, folder, take_id):
                    continue
                takes.append((take_id, _last_played(take_fd), _take_size(take_fd)))
            finally:
                os.close(take_fd)
        except OSError as err:
            log.warning("the take %s was left as it is: %s", take_id, err)
    doomed: list[str] = []
    if keep.max_days is not None:
        doomed += [take_id for take_id, written, _ in takes
                   if now - written > keep.max_days * 86400]
    if keep.max_mb is not None:
        total = sum(size for take_id, _, size in takes if take_id not in doomed)
        for take_id, _, size in takes:  # oldest first: ids sort by their time
            if total <= keep.max_mb * 1024 * 1024:
                break
            if take_id not in doomed:
                doomed.append(take_id)
                total -= size
    removed = []
    for take_id in doomed:
        try:
            _remove_take(folder_fd, take_id)
            removed.append(take_id)
        except OSError as err:
            log.warning("the old take %s could not be removed: %s", take_id, err)
    return removed


def _remove_take(folder_fd: int, take_id: str) -> None:
    """Remove a take's files and its folder, by names relative to the checked folder."""
    take_fd = os.open(take_id, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=folder_fd)
    try:
        for name in os.listdir(take_fd):
            os.unlink(name, dir_fd=take_fd)  # a folder inside is refused: left, and said
    finally:
        os.close(take_fd)
    os.rmdir(take_id, dir_fd=folder_fd)

