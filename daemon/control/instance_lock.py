"""One daemon per control socket, even when the socket's file was deleted under a running
daemon (a clean-up script, a tidy user): a lock file beside it, held with `flock` for the
daemon's life. The kernel lets go of the lock when the process ends, however it ends, so a
killed daemon leaves nothing that stops the next one; the file itself may stay.

Beside the lock, the daemon that holds it records the MIDI output it opened
(`control.sock.opened`, JSON), and removes the record when it lets go (and one an earlier
holder left, when it takes the lock: it records only what it opened). A record that is
left means a daemon that died without releasing its notes: the service manager's stop hook
(`antiphon panic --only-if-stopped`) silences that output, and only that one, and only when
no daemon holds the lock (a daemon the user started by hand on the same socket plays on).

Both files are opened inside the checked folder, never through a link (config/private_folder.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from antiphon.daemon.config.private_folder import open_folder, open_private_file

MAX_RECORD_BYTES = 65536  # a record is a few port names; anything bigger is not ours


class AlreadyRunning(OSError):
    """Another daemon answers on the control socket, or holds its lock."""


def lock_name(socket_path: Path) -> str:
    return socket_path.name + ".lock"


def record_name(socket_path: Path) -> str:
    return socket_path.name + ".opened"


class InstanceLock:
    """`acquire()` or raise AlreadyRunning naming the holder's pid; `release()` once.
    While held, `record()` notes what the daemon opened (see the module docstring)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.path = socket_path.with_name(lock_name(socket_path))
        self._fd: int | None = None
        self._folder_fd: int | None = None

    def acquire(self, folder_fd: int) -> None:
        """Take the lock in the checked folder `folder_fd` (kept open until release)."""
        fd = open_private_file(folder_fd, lock_name(self.socket_path), self.socket_path.parent,
                               create=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(
                f"another Antiphon daemon (pid {holder}) holds {self.path}: it owns the "
                "control socket beside it (even if that socket's file was deleted); stop it "
                "first, or give this one another --control-socket") from None
        os.ftruncate(fd, 0)  # a regular file of ours, checked above: nothing else is cut
        os.write(fd, f"{os.getpid()}\n".encode())
        # A record left by an earlier holder (a hand-started daemon killed long ago, a hook
        # that failed) is not this daemon's: should this one fail before it opens its
        # output, its stop hook must not silence a port this daemon never opened.
        try:
            os.unlink(record_name(self.socket_path), dir_fd=folder_fd)
        except FileNotFoundError:
            pass
        except OSError as err:  # a folder by that name, say
            os.close(fd)
            where = self.socket_path.with_name(record_name(self.socket_path))
            raise OSError(f"cannot remove {str(where)!r}: {err.strerror} (remove it, or give "
                          "another --control-socket)") from None
        self._fd = fd
        self._folder_fd = os.dup(folder_fd)

    def record(self, opened: dict) -> None:
        """Note what this daemon opened (its MIDI system and output), for the stop hook."""
        if self._fd is None:
            raise RuntimeError("record() needs the lock held")
        fd = open_private_file(self._folder_fd, record_name(self.socket_path),
                               self.socket_path.parent, create=True)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), **opened}).encode() + b"\n")
        finally:
            os.close(fd)

    def release(self) -> None:
        """Forget the record (the daemon released its notes on the way out) and unlock."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(record_name(self.socket_path), dir_fd=self._folder_fd)
        os.close(self._folder_fd)
        os.close(self._fd)  # closing lets go of the lock
        self._fd = self._folder_fd = None


@dataclass(frozen=True)
class Stopped:
    """What `stopped_instance` found: `running` is the pid of a daemon that holds the lock
    (then nothing must be touched), else `opened` is the record a dead daemon left (None:
    it opened nothing, or released its notes itself)."""

    running: str | None = None
    opened: dict | None = None


@contextlib.contextmanager
def stopped_instance(socket_path: Path) -> Iterator[Stopped]:
    """What the daemon on `socket_path` left, while the lock is held here (no daemon starts
    on that socket meanwhile); the record is consumed when the block ends without error.
    Raises UnsafePath for a folder or file that others could have changed."""
    folder_fd = open_folder(socket_path.parent, create=False)
    if folder_fd is None:
        yield Stopped()
        return
    try:
        fd = open_private_file(folder_fd, lock_name(socket_path), socket_path.parent,
                               create=False)
        if fd is None:
            yield Stopped()  # no daemon ever ran here (its lock would stay)
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield Stopped(running=_read_pid(fd))
                return
            opened = _read_record(folder_fd, socket_path)
            yield Stopped(opened=opened)
            if opened is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(record_name(socket_path), dir_fd=folder_fd)
        finally:
            os.close(fd)
    finally:
        os.close(folder_fd)


def _read_record(folder_fd: int, socket_path: Path) -> dict | None:
    fd = open_private_file(folder_fd, record_name(socket_path), socket_path.parent,
                           create=False, writable=False)
    if fd is None:
        return None
    try:
        data = os.read(fd, MAX_RECORD_BYTES)
    finally:
        os.close(fd)
    try:
        record = json.loads(data)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        where = socket_path.with_name(record_name(socket_path))
        raise OSError(f"{str(where)!r} is not a record Antiphon wrote: remove it")
    return record


def _read_pid(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode(errors="replace").strip() or "?"
