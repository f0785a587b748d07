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
    judge_unheard_releases,
)


@pytest.fixture
def daemon(jack_server, report_measurement, request):
    """start(*extra_args) -> a DaemonProcess that said it is ready; stopped after the test.
    Each has a control socket of its own (`process.socket`) unless the args name one, and
    keeps a timing trace (`process.trace_path`; the args may name it), by which the releases
    a recorder did not hear are judged when it stops (`JackPlayer.released`)."""
    started = []

    def start(*extra: str, env: dict | None = None) -> DaemonProcess:
        model = e2e_model_path()
        folder = tempfile.mkdtemp(prefix="s", dir=os.environ["XDG_RUNTIME_DIR"])
        socket = Path(folder) / "control.sock"
        own_socket = [] if "--control-socket" in extra else ["--control-socket", str(socket)]
        own_trace = [] if "--timing-trace" in extra else [
            "--timing-trace", str(Path(folder) / "trace.jsonl")]
        # With --config the file names the model: a flag would win over it at a reload too.
        model_args = [] if "--config" in extra else ["--model", str(model)]
        process = DaemonProcess(
            [*backend_args(), *model_args, "--bpm", str(BPM),
             "--silence-beats", str(SILENCE_BEATS), "--seed", "7", *own_socket, *own_trace,
             *extra],
            env or jack_server.env,
        )
        given = [*own_trace, *extra]
        process.trace_path = Path(given[given.index("--timing-trace") + 1])
        process.socket = socket if own_socket else Path(extra[extra.index("--control-socket") + 1])
        started.append(process)
        process.wait_for(r"ready: listening", timeout=READY_TIMEOUT_SECONDS)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.terminate()
    for process in started:
        if lost := judge_unheard_releases(process):
            report_measurement("releases lost on the way", f"{request.node.name}: {lost}")


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
