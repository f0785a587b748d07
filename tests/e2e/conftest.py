"""Fixtures of the end-to-end tests: `antiphon run` started over the session's JACK server."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from e2e_support import (
    BPM,
    READY_TIMEOUT_SECONDS,
    SILENCE_BEATS,
    DaemonProcess,
    JackPlayer,
    backend_args,
    e2e_model_path,
)


@pytest.fixture
def daemon(jack_server):
    """start(*extra_args) -> a DaemonProcess that said it is ready; stopped after the test.
    Each has a control socket of its own (`process.socket`) unless the args name one."""
    started = []

    def start(*extra: str, env: dict | None = None) -> DaemonProcess:
        model = e2e_model_path()
        folder = tempfile.mkdtemp(prefix="s", dir=os.environ["XDG_RUNTIME_DIR"])
        socket = Path(folder) / "control.sock"
        own_socket = [] if "--control-socket" in extra else ["--control-socket", str(socket)]
        # With --config the file names the model: a flag would win over it at a reload too.
        model_args = [] if "--config" in extra else ["--model", str(model)]
        process = DaemonProcess(
            [*backend_args(), *model_args, "--bpm", str(BPM),
             "--silence-beats", str(SILENCE_BEATS), "--seed", "7", *own_socket, *extra],
            env or jack_server.env,
        )
        process.socket = socket if own_socket else Path(extra[extra.index("--control-socket") + 1])
        started.append(process)
        process.wait_for(r"ready: listening", timeout=READY_TIMEOUT_SECONDS)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.terminate()


@pytest.fixture
def player():
    """make() -> a JackPlayer on the started daemon's ports; closed after the test."""
    made = []

    def make() -> JackPlayer:
        made.append(JackPlayer())
        return made[-1]

    yield make
    for each in made:
        each.close()
