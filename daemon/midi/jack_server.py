"""A private JACK server (dummy driver, no audio hardware), for benchmarks and tests that
need real MIDI ports on a machine without an ALSA sequencer."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from antiphon.daemon.midi.backends import jack_server_running

PERIOD_FRAMES = 256  # 5.3 ms at 48 kHz: JACK moves MIDI once per period
SAMPLE_RATE = 48000
START_TIMEOUT_SECONDS = 15.0


def realtime_permitted() -> bool:
    """Whether this user may run threads under SCHED_FIFO (what `jackd --realtime` needs),
    probed in a child process so this one's scheduling stays as it is."""
    if not hasattr(os, "SCHED_FIFO"):
        return False
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


@contextmanager
def private_jack_server(
    prefix: str = "antiphon", log_path: Path | None = None, period_frames: int = PERIOD_FRAMES,
    realtime: bool = False,
) -> Iterator[dict[str, str]]:
    """Start `jackd --no-realtime -d dummy` under a unique server name; yields the
    environment a client (this process or a subprocess) needs to reach it.

    Raises OSError when jackd is missing or does not start (with its log, when
    `log_path` keeps one). This process's environment points at the server while the
    block runs, so its own rtmidi clients find it too.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        raise OSError("jackd not found: install it (Debian: apt-get install jackd2)")
    name = f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
    saved = {key: os.environ.get(key) for key in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"  # a client must never start a server by itself
    with open(log_path or os.devnull, "wb") as log_file:
        process = subprocess.Popen(
            [jackd, "--realtime" if realtime else "--no-realtime", "-n", name, "-d", "dummy",
             "-r", str(SAMPLE_RATE),
             "-p", str(period_frames)],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not jack_server_running():
            if process.poll() is not None or time.monotonic() > deadline:
                log = log_path.read_text(errors="replace") if log_path else ""
                raise OSError(f"jackd did not start (exit status {process.poll()}) {log}")
            time.sleep(0.1)
        yield dict(os.environ)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
