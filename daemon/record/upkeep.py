"""The takes folder's upkeep, done as a recorder opens: a take.mid for every take a process
left unfinished when it died, and old takes removed by age and total size.

A take counts as left by a dead process when it has a journal and no take.mid, and the
journal's header names a pid no process holds, or one a later process holds (the header's
"process" mark: the boot and the process's start, from Linux's /proc), or this process's
own pid while no recorder of this process has it open (`hold_take`). A take that a live
process writes is never finished nor removed here.

Everything goes through config/private_folder.py, and files are removed by names relative
to the checked folder, never through a path a link could redirect.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from antiphon.daemon.config.private_folder import TAKES, open_folder, open_private_file
from antiphon.daemon.record.midi_export import take_to_midi
from antiphon.daemon.record.take_events import Take
from antiphon.daemon.record.takes import (
    JOURNAL,
    TAKE_MIDI,
    TakeError,
    has_file,
    is_take_id,
    read_journal,
)

log = logging.getLogger(__name__)

MIDI_PART = TAKE_MIDI + ".part"
# The takes this process has open now, (folder, id).
_open_takes: set[tuple[Path, str]] = set()
_open_takes_lock = threading.Lock()


@dataclass(frozen=True)
class KeepPolicy:
    """How much of the past is kept: takes older than max_days are removed, then the oldest
    while all of them together are over max_mb. None: no such limit."""

    max_mb: float | None = 500.0
    max_days: float | None = 90.0


DEFAULT_KEEP = KeepPolicy()


def hold_take(folder: Path, take_id: str) -> None:
    """This process writes the take: it is neither finished nor removed by the upkeep."""
    with _open_takes_lock:
        _open_takes.add((folder, take_id))


def release_take(folder: Path, take_id: str) -> None:
    with _open_takes_lock:
        _open_takes.discard((folder, take_id))


def _held(folder: Path, take_id: str) -> bool:
    with _open_takes_lock:
        return (folder, take_id) in _open_takes


def finish_take(where: Path, take_id: str) -> Take:
    """Write take.mid of the take in `where` from its journal (aside, then renamed)."""
    take_fd = open_folder(where, create=False, use=TAKES)
    if take_fd is None:
        raise OSError(f"the take folder {str(where)!r} is gone")
    try:
        take = read_journal(take_fd, where, take_id)
        midi = take_to_midi(take)
        part_fd = open_private_file(take_fd, MIDI_PART, where, create=True, use=TAKES)
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
    fd = open_private_file(take_fd, JOURNAL, where, create=False, writable=False,
                           use=TAKES)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as journal:
        first = journal.readline()
    try:
        header = json.loads(first) if first.endswith(b"\n") else None
    except (ValueError, RecursionError):  # garbage, or nested past what json follows
        return None
    return header if isinstance(header, dict) else None


def _abandoned(take_fd: int, folder: Path, take_id: str) -> bool:
    """Unfinished (a journal, no take.mid) and no live process writes it: its process is
    gone, or it is this process's and not a take open now."""
    if _held(folder, take_id):
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
            take_fd = open_folder(where, create=False, use=TAKES)
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
        except Exception as err:  # noqa: BLE001 (one bad take must not stop the next one)
            log.warning("the unfinished take %s could not be finished: %s", take_id,
                        err if isinstance(err, (OSError, TakeError))
                        else f"{type(err).__name__}: {err}")
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
    if _held(folder, take_id):
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
            take_fd = open_folder(where, create=False, use=TAKES)
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

