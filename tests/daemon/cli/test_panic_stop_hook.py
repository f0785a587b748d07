"""`antiphon panic --only-if-stopped`, the service's stop hook, with real processes holding
real locks: it leaves a running daemon alone and sends nothing when nothing was opened. No
MIDI system is there (the backend is ALSA without a sequencer, or nothing): a hook that
tried to open a port would fail, so exit 0 with "nothing sent" means it opened none."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from lock_holder import hold


@pytest.fixture
def folder():
    made = Path(tempfile.mkdtemp(prefix="ph", dir="/tmp"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def panic(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANTIPHON_BACKEND": "alsa", "JACK_NO_START_SERVER": "1",
           "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "antiphon", "panic", *args],
                          capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)


def test_a_running_daemon_is_left_alone(folder):
    path = folder / "c.sock"
    holder = hold(path, backend="alsa", out_port="anything")
    try:
        result = panic("--only-if-stopped", "--control-socket", str(path))
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"a daemon (pid {holder.pid}) runs on {path}" in result.stdout
    assert "nothing sent" in result.stdout
    assert (folder / "c.sock.opened").exists()  # its record stays for its own stop


def test_a_start_that_opened_nothing_sends_nothing(folder):
    result = panic("--only-if-stopped", "--control-socket", str(folder / "never" / "c.sock"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing sent" in result.stdout


def test_a_dead_daemon_s_output_is_what_the_hook_opens(folder):
    # The recorded output is opened, not the config's: on ALSA without a sequencer, that
    # fails naming the MIDI system (a MIDI system that is gone has nothing sounding).
    path = folder / "c.sock"
    holder = hold(path, backend="alsa", out_port="recorded synth")
    holder.kill()
    holder.wait()
    result = panic("--only-if-stopped", "--control-socket", str(path))
    if result.returncode == 0:  # a sequencer is there after all: it went to that port
        assert "recorded synth" in result.stdout or "messages sent" in result.stdout
    else:
        assert "Traceback" not in result.stderr, result.stderr
        assert "nothing sent" not in result.stdout
        assert (folder / "c.sock.opened").exists()  # kept for a hook that can send it


def test_the_hook_takes_no_port_of_its_own(folder):
    result = panic("--only-if-stopped", "--out", "synth")
    assert result.returncode == 2
    assert "takes no --out or --backend" in result.stderr
