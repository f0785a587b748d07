"""A daemon stand-in in a process of its own: it claims a control socket (socket, lock and
the record of what it opened, as `antiphon run` does) and answers status, until killed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOLDER = """
import sys, time
from pathlib import Path
from antiphon.daemon.control.socket_server import ControlServer

server = ControlServer(Path(sys.argv[1]), lambda request: {"ok": True, "status": {"pid": 0}})
server.claim()
server.record_opened({"backend": sys.argv[2], "out_port": sys.argv[3] or None})
server.start()
print("held", flush=True)
time.sleep(600)
"""


def hold(socket_path: Path, backend: str = "jack", out_port: str = "e2e synth",
         env: dict | None = None) -> subprocess.Popen:
    """Start the stand-in; returns once it holds the lock and has recorded its output."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(socket_path), backend,
                                out_port], stdout=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    if line.strip() != "held":
        process.kill()
        raise RuntimeError(f"the lock holder did not start: {line!r}")
    return process
