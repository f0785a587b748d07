"""An impostor on a control socket's path: a forked process that drops to another user
(uid 65534) before it binds and listens, so SO_PEERCRED truly names that user. It answers
every line as a daemon would ("ok") and reports every byte it heard. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
from collections.abc import Iterator
from pathlib import Path

OTHER_UID = 65534  # nobody


class Impostor:
    def __init__(self, pid: int, reports: int) -> None:
        self.pid = pid
        self._reports = reports
        self._heard: bytes | None = None

    def heard(self, timeout: float = 30.0) -> bytes:
        """Every byte its one client sent, once that client has gone."""
        if self._heard is None:
            chunks = []
            while select.select([self._reports], [], [], timeout)[0]:
                chunk = os.read(self._reports, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
            self._heard = b"".join(chunks)
        return self._heard


@contextlib.contextmanager
def impostor_server(path: Path) -> Iterator[Impostor]:
    """Listen on `path` as uid 65534 (its folder must let that user make the socket)."""
    ready_read, ready_write = os.pipe()
    report_read, report_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no Python cleanup of the parent's, only os._exit
        status = 1
        try:
            os.close(ready_read)
            os.close(report_read)
            os.setgroups([])
            os.setgid(OTHER_UID)
            os.setuid(OTHER_UID)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            listener.listen(8)
            os.write(ready_write, b"r")
            listener.settimeout(30)
            connection, _ = listener.accept()
            connection.settimeout(5)
            while True:
                try:
                    chunk = connection.recv(65536)
                except (TimeoutError, ConnectionResetError):
                    break
                if not chunk:
                    break
                os.write(report_write, chunk)
                connection.sendall(b'{"ok": true, "key": "temperature", "value": 0.8}\n')
            status = 0
        finally:
            os._exit(status)
    os.close(ready_write)
    os.close(report_write)
    try:
        if not select.select([ready_read], [], [], 30)[0] or os.read(ready_read, 1) != b"r":
            raise RuntimeError("the impostor did not start")
        yield Impostor(pid, report_read)
    finally:
        os.close(ready_read)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(report_read)
