"""The systemd integration: the notify protocol against real AF_UNIX datagram sockets, the
journald checks on real files, and the rendered unit checked by `systemd-analyze verify`."""

from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from antiphon.daemon.service.systemd import (
    JournalFormatter,
    Notifier,
    exec_line,
    render_unit,
    under_journald,
    under_service_manager,
    unit_path,
)

# The venv's own console script: `systemd-analyze verify` checks that ExecStart exists.
ANTIPHON = Path(sys.executable).parent / "antiphon"


@pytest.fixture
def listener(tmp_path):
    """A datagram socket bound at a path, as systemd binds NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    assert len(os.fsencode(path)) < 108, "sun_path holds 107 bytes"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, str(path)
    sock.close()


@pytest.fixture
def abstract_listener():
    """A datagram socket in the abstract namespace ('@name' in NOTIFY_SOCKET)."""
    name = f"antiphon-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    yield sock, "@" + name
    sock.close()


def fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def test_ready_sends_ready_and_status_to_a_path_socket(listener):
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    notifier.ready("listening on Antiphon In")
    assert sock.recv(4096) == b"READY=1\nSTATUS=listening on Antiphon In"


def test_watchdog_status_and_stopping_reach_an_abstract_socket(abstract_listener):
    sock, name = abstract_listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": name})
    notifier.watchdog()
    notifier.status("answering\nthe second line")  # a newline would start a bogus field
    notifier.stopping()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sock.recv(4096) == b"STATUS=answering the second line"
    assert sock.recv(4096) == b"STOPPING=1"


def test_reloading_carries_the_monotonic_clock_in_microseconds(listener):
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    sent = fields(sock.recv(4096))
    assert sent.keys() == {"RELOADING", "MONOTONIC_USEC"}
    assert sent["RELOADING"] == "1"
    assert before <= int(sent["MONOTONIC_USEC"]) <= after


def test_without_notify_socket_every_method_is_a_no_op():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    for call in (lambda: notifier.ready("x"), lambda: notifier.status("x"), notifier.watchdog,
                 notifier.reloading, notifier.stopping, notifier.close):
        assert call() is None
    assert not Notifier.from_environment({"NOTIFY_SOCKET": ""}).enabled


@pytest.mark.parametrize(("environ", "expected"), [
    ({"WATCHDOG_USEC": "10000000"}, 10.0),
    ({"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": str(os.getpid())}, 2.5),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),  # a parent's
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "not-a-pid"}, None),
    ({"WATCHDOG_USEC": "ten seconds"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_PID": str(os.getpid())}, None),
    ({}, None),
], ids=["usec", "our-pid", "other-pid", "bad-pid", "bad-usec", "zero", "no-usec", "none"])
def test_watchdog_interval_follows_watchdog_usec_for_this_process(environ, expected):
    assert Notifier.from_environment(environ).watchdog_interval == expected


def test_a_vanished_socket_is_logged_once_and_never_raises(listener, caplog):
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    notifier.ready("up")
    assert sock.recv(4096).startswith(b"READY=1")
    sock.close()
    os.unlink(path)  # the service manager went away
    with caplog.at_level(logging.WARNING, logger="antiphon.daemon.service.systemd"):
        notifier.watchdog()
        notifier.status("still here")
        notifier.stopping()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and path in warnings[0].getMessage()


def test_a_socket_nobody_listens_on_does_not_raise(tmp_path):
    unbound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unbound.bind(str(tmp_path / "stale"))
    unbound.close()  # the file stays, nobody reads it: ECONNREFUSED
    for address in (str(tmp_path / "stale"), str(tmp_path / "never"), "@antiphon-nobody"):
        Notifier.from_environment({"NOTIFY_SOCKET": address}).ready("up")


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, False),
    ({"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}, True),
    ({"NOTIFY_SOCKET": "/run/systemd/notify"}, True),
    ({"NOTIFY_SOCKET": "", "INVOCATION_ID": ""}, False),
])
def test_under_service_manager(environ, expected):
    assert under_service_manager(environ) is expected


def test_under_journald_only_when_journal_stream_names_the_stream(tmp_path):
    with open(tmp_path / "journal", "w") as journal, open(tmp_path / "other", "w") as other:
        info = os.fstat(journal.fileno())
        environ = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert under_journald(environ, journal)
        # A child whose stderr went elsewhere inherits the variable, not the journal.
        assert not under_journald(environ, other)
        for malformed in ("", "12", "a:b", f"{info.st_dev}:", ":1", f"{info.st_dev}:-1", "1:²"):
            assert not under_journald({"JOURNAL_STREAM": malformed}, journal)
        assert not under_journald({}, journal)
        assert not under_journald(environ, io.StringIO())  # no file descriptor at all


def test_journal_formatter_puts_the_priority_on_every_line_and_no_timestamp():
    formatter = JournalFormatter()

    def line(level: int, message: str, **extra) -> str:
        record = logging.LogRecord("antiphon.x", level, __file__, 1, message, None, None)
        record.__dict__.update(extra)
        return formatter.format(record)

    assert line(logging.DEBUG, "d") == "<7>antiphon.x: d"
    assert line(logging.INFO, "i") == "<6>antiphon.x: i"
    assert line(logging.WARNING, "w") == "<4>antiphon.x: w"
    assert line(logging.ERROR, "e") == "<3>antiphon.x: e"
    assert line(logging.CRITICAL, "c") == "<2>antiphon.x: c"
    assert line(logging.ERROR, "two\nlines") == "<3>antiphon.x: two\n<3>lines"


def test_unit_path_follows_xdg_config_home(tmp_path):
    user = unit_path("user", {"XDG_CONFIG_HOME": str(tmp_path)})
    assert user == tmp_path / "systemd" / "user" / "antiphon.service"
    # The XDG spec: a relative XDG_CONFIG_HOME is ignored.
    default = Path.home() / ".config" / "systemd" / "user" / "antiphon.service"
    assert unit_path("user", {"XDG_CONFIG_HOME": "relative"}) == default
    assert unit_path("user", {}) == default
    assert unit_path("system") == Path("/etc/systemd/system/antiphon.service")
    with pytest.raises(ValueError, match="scope"):
        unit_path("session")


def settings(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for text in unit.splitlines():
        if "=" in text and not text.startswith("#"):
            key, value = text.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize(("scope", "target"), [("user", "default.target"),
                                               ("system", "multi-user.target")])
def test_unit_runs_the_daemon_as_a_notify_service_with_a_watchdog(scope, target):
    unit = render_unit(Path("/opt/antiphon/bin/antiphon"), Path("/etc/antiphon.toml"), scope)
    found = settings(unit)
    assert found["Type"] == ["notify"] and found["NotifyAccess"] == ["main"]
    assert found["ExecStart"] == ["/opt/antiphon/bin/antiphon run --config /etc/antiphon.toml"]
    # Only what this service's daemon left sounding: not a daemon the user runs by hand.
    assert found["ExecStopPost"] == ["-/opt/antiphon/bin/antiphon panic --only-if-stopped "
                                     "--config /etc/antiphon.toml"]
    assert found["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert found["WatchdogSec"] == ["10"] and found["Restart"] == ["on-failure"]
    assert found["WantedBy"] == [target] and found["After"] == ["sound.target"]
    assert "Documentation" not in found and "network" not in unit and "http" not in unit
    assert unit.startswith("# Written by `antiphon service install")
    assert "--config" not in render_unit(Path("/opt/antiphon"), None, scope)


def test_unit_quotes_paths_as_systemd_parses_them():
    assert exec_line(["/a b/antiphon", "run"]) == '"/a b/antiphon" run'
    # Arguments: '%' (specifiers) and '$' (variables) doubled, quotes and backslashes escaped.
    assert exec_line(["/x", "/c 1/%h$V\"\\.toml"]) == '/x "/c 1/%%h$$V\\"\\\\.toml"'
    assert exec_line(["/x%y$z", "plain"]) == "/x%%y$z plain"  # no $ expansion in the binary
    with pytest.raises(ValueError, match="absolute"):
        render_unit(Path("antiphon"), None, "user")
    with pytest.raises(ValueError, match="absolute"):
        render_unit(Path("/bin/antiphon"), Path("antiphon.toml"), "user")
    with pytest.raises(ValueError, match="quotes"):
        render_unit(Path('/a"b/antiphon'), None, "user")
    with pytest.raises(ValueError, match="scope"):
        render_unit(Path("/bin/antiphon"), None, "session")


def verify(unit: str, folder: Path, scope: str) -> list[str]:
    """`systemd-analyze verify` the unit; its warnings about it (other units' are not ours)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "antiphon.service"
    path.write_text(unit)
    command = ["systemd-analyze", "verify", str(path)]
    environ = dict(os.environ)
    if scope == "user":
        # `--user verify` runs a user manager in test mode, which only needs a runtime
        # folder to exist: a fresh one stands in where no login session made one.
        runtime = folder / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        environ["XDG_RUNTIME_DIR"] = str(runtime)
        command.insert(1, "--user")
    result = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=60)
    output = result.stdout + result.stderr
    if scope == "user" and "Failed to initialize manager" in output:
        # A container without the user manager's prerequisites: the system manager's
        # parser reads the same unit syntax (the [Install] target exists there too).
        result = subprocess.run(command[:1] + command[2:], capture_output=True, text=True,
                                timeout=60)
        output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return [line for line in output.splitlines() if "antiphon.service" in line]


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (a system without systemd)")


@needs_systemd_analyze
@pytest.mark.parametrize("scope", ["user", "system"])
def test_systemd_analyze_verifies_the_unit(scope, tmp_path):
    assert ANTIPHON.is_file(), f"no console script at {ANTIPHON}"
    config = tmp_path / "antiphon.toml"
    config.write_text("bpm = 100\n")
    assert verify(render_unit(ANTIPHON, config, scope), tmp_path / "unit", scope) == []
    assert verify(render_unit(ANTIPHON, None, scope), tmp_path / "bare", scope) == []


@needs_systemd_analyze
def test_systemd_analyze_reads_quoted_paths_with_spaces(tmp_path):
    folder = tmp_path / "my apps %h $HOME"
    folder.mkdir()
    (folder / "antiphon").symlink_to(ANTIPHON)
    config = tmp_path / "my config" / "a $b %c.toml"
    config.parent.mkdir()
    config.write_text("")
    assert verify(render_unit(folder / "antiphon", config, "system"), tmp_path / "u",
                  "system") == []


@needs_systemd_analyze
def test_systemd_analyze_would_name_a_broken_unit(tmp_path):
    # The filter above must not hide real warnings: a bad setting is reported, naming it.
    broken = render_unit(ANTIPHON, None, "system").replace("Type=notify", "Type=notify-ish")
    warnings = verify(broken, tmp_path, "system")
    assert any("service type" in line for line in warnings), warnings
    # And a command that is not there fails verify outright.
    path = tmp_path / "missing" / "antiphon.service"
    path.parent.mkdir()
    path.write_text(render_unit(tmp_path / "no-such-antiphon", None, "system"))
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "no-such-antiphon" in result.stdout + result.stderr
