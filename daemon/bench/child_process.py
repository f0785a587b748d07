"""The bench's clients in processes of their own (`bench.recorder`, `bench.clock_source`):
each prints "ready" as its first line once its JACK ports are up, and a recorder stops at the
end of its input. Starting and ending them the one way keeps a client that did not start
from leaving a process behind, and a bench from waiting on one for ever."""

from __future__ import annotations

import subprocess
import sys
import threading

END_TIMEOUT_SECONDS = 10.0  # a recorder that does not end by then is killed


def start_client(module: str, arguments: list[str], env: dict[str, str] | None,
                 what: str) -> subprocess.Popen:
    """`python -m antiphon.daemon.bench.MODULE ARGUMENTS...`, returned once it said it is
    ready; OSError naming `what` (and what it said instead) where it did not."""
    process = subprocess.Popen(
        [sys.executable, "-m", f"antiphon.daemon.bench.{module}", *arguments],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    ready = process.stdout.readline()
    if not ready.startswith("ready"):
        process.kill()
        process.wait()
        raise OSError(f"{what} did not start: {ready!r}")
    return process


def end_recorder(process: subprocess.Popen, reader: threading.Thread | None = None,
                 reader_timeout: float = 5.0) -> None:
    """End a recorder: its input closed (it stops at the end of it), the process waited for
    (killed past END_TIMEOUT_SECONDS), and the thread reading its output joined."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=END_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if reader is not None:
        reader.join(reader_timeout)
