"""Fixtures of the control socket's tests: short socket folders and started servers.

Socket paths are short folders under XDG_RUNTIME_DIR (tests/conftest.py keeps it short):
pytest's tmp_path is too long for AF_UNIX's 107 bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from daemon_helpers import echo

from antiphon.daemon.control.socket_server import ControlServer


@pytest.fixture
def folder():
    made = Path(tempfile.mkdtemp(prefix="c", dir=os.environ["XDG_RUNTIME_DIR"]))
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def serve():
    """serve(path, handler, **limits) -> a claimed, started ControlServer, closed after."""
    servers = []

    def start(path: Path, handler=echo, **limits) -> ControlServer:
        server = ControlServer(path, handler, **limits)
        server.claim()
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
