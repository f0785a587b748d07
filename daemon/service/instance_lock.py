"""One daemon per control socket, even when the socket's file was deleted under a running
daemon (a clean-up script, a tidy user): a lock file beside it, held with `flock` for the
daemon's life. The kernel lets go of the lock when the process ends, however it ends, so a
killed daemon leaves nothing that stops the next one; the file itself may stay.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(OSError):
    """Another daemon answers on the control socket, or holds its lock."""


class InstanceLock:
    """`acquire()` or raise AlreadyRunning naming the holder's pid; `release()` once."""

    def __init__(self, socket_path: Path) -> None:
        self.path = socket_path.with_name(socket_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(
                f"another Antiphon daemon (pid {holder}) holds {self.path}: it owns the "
                "control socket beside it (even if that socket's file was deleted); stop it "
                "first, or give this one another --control-socket") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing lets go of the lock
            self._fd = None
