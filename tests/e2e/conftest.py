"""Fixtures of the end-to-end tests: `antiphon run` started over the session's JACK server."""

from __future__ import annotations

import pytest
from e2e_support import (
    BPM,
    READY_TIMEOUT_SECONDS,
    SILENCE_BEATS,
    DaemonProcess,
    backend_args,
    e2e_model_path,
)


@pytest.fixture
def daemon(jack_server):
    """start(*extra_args) -> a DaemonProcess that said it is ready; stopped after the test."""
    started = []

    def start(*extra: str, env: dict | None = None) -> DaemonProcess:
        model = e2e_model_path()
        process = DaemonProcess(
            [*backend_args(), "--model", str(model), "--bpm", str(BPM),
             "--silence-beats", str(SILENCE_BEATS), "--seed", "7", *extra],
            env or jack_server.env,
        )
        started.append(process)
        process.wait_for(r"ready: listening", timeout=READY_TIMEOUT_SECONDS)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.terminate()
