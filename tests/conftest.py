"""Shared fixtures: a private JACK server for end-to-end tests, and measurements that the
test run reports at its end (e.g. the daemon's answer latency)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

JACK_START_TIMEOUT_SECONDS = 15.0
JACK_PERIOD_FRAMES = 256  # 5.3 ms at 48 kHz: MIDI through JACK moves once per period

_measurements: list[tuple[str, str]] = []


@dataclass(frozen=True)
class JackServer:
    name: str  # the JACK_DEFAULT_SERVER clients must use
    env: dict[str, str]  # os.environ plus what a subprocess needs to reach this server
    log_path: Path


def _unavailable(reason: str) -> None:
    """Skip, except on CI, where a missing JACK means a broken setup: fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the JACK end-to-end tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory) -> JackServer:
    """A JACK server of our own (dummy driver, no audio hardware), for the whole session.

    It has a unique name, so parallel test runs and a user's own JACK never meet.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        _unavailable("jackd not found: `apt-get install jackd2` to run the JACK e2e tests")
    import rtmidi

    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        _unavailable("this python-rtmidi build has no JACK support")
    from antiphon.daemon.ports import jack_server_running

    name = f"antiphon-test-{os.getpid()}-{secrets.token_hex(3)}"
    saved = {key: os.environ.get(key) for key in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    # libjack reads these when a client opens: this process's own clients need them too.
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"  # a client must never start a server by itself
    log_path = tmp_path_factory.mktemp("jack") / "jackd.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [jackd, "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000",
             "-p", str(JACK_PERIOD_FRAMES)],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + JACK_START_TIMEOUT_SECONDS
        while not jack_server_running():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jackd did not start: {log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield JackServer(name, dict(os.environ), log_path)
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


@pytest.fixture
def report_measurement():
    """Record a figure to show in the test run's summary: report_measurement(name, text)."""

    def report(name: str, text: str) -> None:
        _measurements.append((name, text))

    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if not _measurements:
        return
    terminalreporter.section("measurements")
    for name, text in _measurements:
        terminalreporter.write_line(f"{name}: {text}")
