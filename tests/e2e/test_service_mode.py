"""`antiphon run` as systemd runs it, over the real JACK server: the command line of the
unit `antiphon service install` writes, the sd_notify messages on a socket the test binds
in systemd's place (readiness, watchdog, reload, stop), SIGHUP as reload under a service
manager and as hang-up without one, and the log format journald reads.

No systemd is needed: a service manager is, to the daemon, a few environment variables
and a datagram socket, and the test provides exactly those.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from datagram_peers import DatagramReader
from e2e_support import READY_TIMEOUT_SECONDS, antiphon_command, backend_args, e2e_model_path

from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.service.systemd import render_unit

pytestmark = pytest.mark.jack

WATCHDOG_USEC = 2_000_000  # the daemon pats every second
MANAGER_VARIABLES = ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM", "WATCHDOG_USEC",
                     "WATCHDOG_PID")


def short_folder() -> Path:
    """A folder whose sockets fit AF_UNIX's 107 bytes (pytest's tmp_path may not)."""
    return Path(tempfile.mkdtemp(prefix="u", dir=os.environ["XDG_RUNTIME_DIR"]))


def unit_command(config: Path) -> tuple[list[str], dict[str, str]]:
    """ExecStart= of the user unit, split into argv, and its Environment= settings."""
    executable = Path(sys.executable).with_name("antiphon")
    if not executable.exists():
        pytest.skip("the antiphon console script is not installed in this environment")
    argv, environment = [], {}
    for line in render_unit(executable, config, "user").splitlines():
        if line.startswith("ExecStart="):
            argv = shlex.split(line.removeprefix("ExecStart="))
        elif line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            environment[key] = value
    assert argv[:2] == [str(executable), "run"], argv
    return argv, environment


def without_a_manager(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key not in MANAGER_VARIABLES}


class NotifyListener(DatagramReader):
    """The service manager's end of NOTIFY_SOCKET: every datagram, parsed, in order, as
    (when it came, its fields)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        super().__init__(sock, _notify_fields)
        self.messages: list[tuple[float, dict[str, str]]] = self.received

    def wait_for(self, key: str, after: int = 0, timeout: float = 10.0) -> int:
        """The index of the first message from `after` on that sets `key`=1."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, (_, fields) in enumerate(list(self.messages)[after:], after):
                if fields.get(key) == "1":
                    return index
            time.sleep(0.02)
        pytest.fail(f"no {key}=1 from the daemon; it sent {[m for _, m in self.messages]}")

    def times(self, key: str) -> list[float]:
        return [when for when, fields in list(self.messages) if fields.get(key) == "1"]


def _notify_fields(datagram: bytes) -> tuple[float, dict[str, str]]:
    return time.monotonic(), dict(line.split("=", 1) for line in datagram.decode().splitlines()
                                  if line)


class ServiceProcess:
    """A daemon whose stdout and stderr go to a file, as a unit's go to the journal."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        log_path.touch()
        with open(log_path, "ab") as log_file:
            self.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log_file, stderr=log_file)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.output()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"no {pattern!r} in the daemon's log:\n{self.output()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the daemon did not stop on {signum!r}:\n{self.output()}")


@pytest.fixture
def services():
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(10)


def status(control_socket: Path) -> dict:
    """`antiphon status --json`, as a user asks a service."""
    result = subprocess.run(
        antiphon_command("status", "--json", "--control-socket", str(control_socket)),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def write_config(path: Path, temperature: float) -> None:
    path.write_text(f'model = "{e2e_model_path()}"\ntemperature = {temperature}\n')


def test_the_unit_command_runs_as_a_notify_service_that_reloads_on_sighup(
        jack_server, services, tmp_path):
    config = tmp_path / "antiphon.toml"
    write_config(config, 0.9)
    argv, unit_environment = unit_command(config)
    folder = short_folder()
    control = folder / "control.sock"
    manager = NotifyListener(folder / "notify.sock")
    env = {**without_a_manager(jack_server.env), **unit_environment,
           "NOTIFY_SOCKET": str(manager.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    service = ServiceProcess([*argv, *backend_args(), "--control-socket", str(control)], env,
                             tmp_path / "daemon.log")
    services.append(service)
    try:
        ready = manager.wait_for("READY", timeout=READY_TIMEOUT_SECONDS)
        assert "idle" in manager.messages[ready][1].get("STATUS", ""), manager.messages[ready]
        assert status(control)["pid"] == service.process.pid

        # The watchdog: patted about every second, never as late as its 2 s.
        deadline = time.monotonic() + 15
        while len(manager.times("WATCHDOG")) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        pats = manager.times("WATCHDOG")
        assert len(pats) >= 4, manager.messages
        gaps = [later - earlier for earlier, later in zip(pats[:-1], pats[1:], strict=True)]
        assert max(gaps) < WATCHDOG_USEC / 1e6, gaps
        # At half the interval, not at every poll of the serving loop (the median: one
        # late read of the socket here shortens the gap after it).
        assert sorted(gaps)[len(gaps) // 2] > 0.5, gaps

        # A changed config and SIGHUP (what `systemctl reload` sends): RELOADING, READY.
        write_config(config, 0.6)
        seen = len(manager.messages)
        service.process.send_signal(signal.SIGHUP)
        reloading = manager.wait_for("RELOADING", after=seen)
        assert int(manager.messages[reloading][1]["MONOTONIC_USEC"]) > 0
        manager.wait_for("READY", after=reloading + 1)
        assert status(control)["settings"]["temperature"] == 0.6
        assert service.process.poll() is None
        service.wait_for(r"reloaded: temperature", 10)

        # A broken config: refused, the old one plays on, the manager is told why. Bad TOML,
        # and bytes no TOML parser reads (a Latin-1 file: this once ended the daemon).
        for broken, reason in ((b"temperature = [\n", "not valid TOML"),
                               (b"# caf\xe9\ntemperature = 0.5\n", "not UTF-8 text")):
            config.write_bytes(broken)
            seen = len(manager.messages)
            service.process.send_signal(signal.SIGHUP)
            reloading = manager.wait_for("RELOADING", after=seen)
            ready = manager.wait_for("READY", after=reloading + 1)
            assert manager.messages[ready][1]["STATUS"].startswith("reload refused"), (
                manager.messages[ready])
            assert reason in manager.messages[ready][1]["STATUS"], manager.messages[ready]
            assert status(control)["settings"]["temperature"] == 0.6
            assert service.process.poll() is None
        service.wait_for(r"reload refused, the old config keeps playing", 10)

        seen = len(manager.messages)
        assert service.stop(signal.SIGTERM) == 0, service.output()
        manager.wait_for("STOPPING", after=seen, timeout=5)
        assert "Traceback" not in service.output()
        assert not control.exists()  # the socket went with the daemon
    finally:
        manager.close()


def test_without_a_service_manager_sighup_is_a_hang_up_and_stops_cleanly(daemon, jack_server):
    process = daemon(env=without_a_manager(jack_server.env))
    assert ask(process.socket, {"command": "status"})["ok"] is True
    process.process.send_signal(signal.SIGHUP)  # the terminal it ran in was closed
    assert process.process.wait(15) == 0, process.output()
    process.wait_for(r"SIGHUP received: stopping cleanly", 5)
    assert "reload" not in process.output()


def test_under_journald_log_lines_carry_a_priority_and_no_timestamp(jack_server, services,
                                                                     tmp_path):
    log_path = tmp_path / "journal-stream"
    log_path.touch()
    stream = log_path.stat()
    control = short_folder() / "control.sock"
    env = {**without_a_manager(jack_server.env),
           "JOURNAL_STREAM": f"{stream.st_dev}:{stream.st_ino}"}
    argv = antiphon_command("run", *backend_args(), "--model", str(e2e_model_path()),
                            "--control-socket", str(control))
    service = ServiceProcess(argv, env, log_path)
    services.append(service)
    service.wait_for(r"ready: listening", READY_TIMEOUT_SECONDS)
    assert ask(control, {"command": "panic"})["ok"] is True  # a warning, for a <4> line
    service.wait_for(r"panic: \d+ notes released", 10)
    assert service.stop() == 0
    lines = [line for line in service.output().splitlines() if line.strip()]
    assert lines, "the daemon logged nothing"
    unmarked = [line for line in lines if not re.match(r"<[0-7]>", line)]
    assert unmarked == [], f"lines journald would file at the wrong priority:\n{unmarked}"
    assert any(line.startswith("<6>") and "ready: listening" in line for line in lines)
    assert any(line.startswith("<4>") and "panic:" in line for line in lines)
    stamped = [line for line in lines if re.search(r"\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d", line)]
    assert stamped == [], f"the journal stamps lines itself:\n{stamped}"
