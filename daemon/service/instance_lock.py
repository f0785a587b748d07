"""One daemon per control socket, even when the socket's file was deleted under a running
daemon (a clean-up script, a tidy user): a lock file beside it, held with `flock` for the
daemon's life. The kernel lets go of the lock when the process ends, however it ends, so a
killed daemon leaves nothing that stops the next one; the file itself may stay.

The lock is opened inside the checked folder, never through a link (socket_folder.py).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from antiphon.daemon.service.socket_folder import open_private_file


class AlreadyRunning(OSError):
    """Another daemon answers on the control socket, or holds its lock."""


def lock_name(socket_path: Path) -> str:
    return socket_path.name + ".lock"


class InstanceLock:
    """`acquire()` or raise AlreadyRunning naming the holder's pid; `release()` once."""

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
        self._fd = fd
        self._folder_fd = os.dup(folder_fd)

    def release(self) -> None:
        if self._fd is None:
            return
        os.close(self._folder_fd)
        os.close(self._fd)  # closing lets go of the lock
        self._fd = self._folder_fd = None


def _read_pid(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode(errors="replace").strip() or "?"
