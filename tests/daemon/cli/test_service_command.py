"""`antiphon service install | uninstall`, run as the real console script with
XDG_CONFIG_HOME in a temporary folder, and the journald log format of the commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app

ANTIPHON = Path(sys.executable).parent / "antiphon"


@pytest.fixture
def home(tmp_path):
    """A home of its own: the unit lands under it, the real ~/.config stays untouched."""
    environ = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    environ.pop("JOURNAL_STREAM", None)
    return tmp_path, environ


def antiphon(environ: dict, *args: str, cwd: Path | None = None):
    return subprocess.run([str(ANTIPHON), *args], capture_output=True, text=True,
                          env=environ, cwd=cwd, timeout=60)


def unit_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "systemd" / "user" / "antiphon.service"


def test_install_writes_a_user_unit_and_prints_the_systemctl_commands(home):
    tmp_path, environ = home
    result = antiphon(environ, "service", "install", "--user")
    assert result.returncode == 0, result.stderr
    unit = unit_file(tmp_path).read_text()
    for setting in ("Type=notify", "WatchdogSec=10", "Restart=on-failure",
                    "[Install]\nWantedBy=default.target"):
        assert setting in unit
    assert f"ExecStart={ANTIPHON.resolve()} run\n" in unit
    assert f"ExecStopPost=-{ANTIPHON.resolve()} panic --only-if-stopped\n" in unit
    for command in ("systemctl --user daemon-reload",
                    "systemctl --user enable --now antiphon.service",
                    "journalctl --user -u antiphon -f", "antiphon status",
                    "loginctl enable-linger"):
        assert command in result.stdout
    assert str(unit_file(tmp_path)) in result.stdout
    assert oct(unit_file(tmp_path).stat().st_mode & 0o777) == "0o644"
    again = antiphon(environ, "service", "install")  # --user is the default
    assert again.returncode == 0 and "already up to date" in again.stdout


def test_install_refuses_to_replace_a_different_unit_without_force(home):
    tmp_path, environ = home
    path = unit_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("[Service]\nExecStart=/usr/bin/something-else\n")
    config = tmp_path / "antiphon.toml"
    config.write_text("bpm = 96\n")
    # A relative --config is made absolute: the service does not start in this folder.
    refused = antiphon(environ, "service", "install", "--config", "antiphon.toml", cwd=tmp_path)
    assert refused.returncode == 1
    assert "already exists and differs" in refused.stderr and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert "something-else" in path.read_text()
    forced = antiphon(environ, "service", "install", "--config", "antiphon.toml", "--force",
                      cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert f"run --config {config}\n" in path.read_text()


def test_uninstall_removes_the_unit_and_says_what_to_run(home):
    tmp_path, environ = home
    assert antiphon(environ, "service", "install", "--user").returncode == 0
    result = antiphon(environ, "service", "uninstall", "--user")
    assert result.returncode == 0, result.stderr
    assert not unit_file(tmp_path).exists()
    assert "systemctl --user daemon-reload" in result.stdout
    again = antiphon(environ, "service", "uninstall")
    assert again.returncode == 0 and "nothing to remove" in again.stdout


def test_uninstall_of_an_enabled_unit_asks_to_disable_it_first(home):
    tmp_path, environ = home
    assert antiphon(environ, "service", "install").returncode == 0
    # What `systemctl --user enable` leaves: a link in the target's .wants folder.
    wants = unit_file(tmp_path).parent / "default.target.wants"
    wants.mkdir()
    (wants / "antiphon.service").symlink_to(unit_file(tmp_path))
    result = antiphon(environ, "service", "uninstall")
    assert result.returncode == 1
    assert "systemctl --user disable --now antiphon.service" in result.stderr
    assert unit_file(tmp_path).exists()


runner = CliRunner()


def test_install_with_a_missing_config_is_a_usage_error(home):
    tmp_path, environ = home
    result = antiphon(environ, "service", "install", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml" in result.stderr and "no such file" in result.stderr
    assert not unit_file(tmp_path).exists()


def test_install_with_a_bad_config_is_a_usage_error(home):
    tmp_path, environ = home
    config = tmp_path / "antiphon.toml"
    config.write_text("bpm = 0\n")
    result = runner.invoke(app, ["service", "install", "--config", str(config)],
                           env={"XDG_CONFIG_HOME": str(tmp_path / "config"),
                                "PATH": str(ANTIPHON.parent)})
    assert result.exit_code == 2
    assert "bpm" in result.output
    assert not unit_file(tmp_path).exists()


def test_install_without_an_antiphon_command_says_so(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    # Under pytest sys.argv[0] is pytest, not the console script, and PATH has none either.
    result = runner.invoke(app, ["service", "install"],
                           env={"XDG_CONFIG_HOME": str(tmp_path / "config"), "PATH": str(empty)})
    assert result.exit_code == 1
    assert "cannot find the antiphon command" in result.output
    assert not unit_file(tmp_path).exists()


LOGS = """
import logging
from antiphon.daemon.cli.shared import setup_logging
setup_logging("info")
logging.getLogger("antiphon.test").info("listening")
logging.getLogger("antiphon.test").warning("port gone")
logging.getLogger("antiphon.test").debug("not shown at info")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("antiphon.test").exception("broke")
"""
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d")


def log_lines(tmp_path: Path, journal: bool) -> list[str]:
    """Run LOGS with stderr on a file; with `journal`, JOURNAL_STREAM names that file as
    systemd names the journal's stream."""
    path = tmp_path / "stderr"
    with open(path, "w") as stderr:
        environ = dict(os.environ)
        environ.pop("JOURNAL_STREAM", None)
        if journal:
            info = os.fstat(stderr.fileno())
            environ["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
        subprocess.run([sys.executable, "-c", LOGS], stderr=stderr, env=environ, timeout=60,
                       check=True)
    return path.read_text().splitlines()


def test_under_journald_log_lines_carry_the_priority_and_no_timestamp(tmp_path):
    lines = log_lines(tmp_path, journal=True)
    assert lines[:3] == ["<6>antiphon.test: listening", "<4>antiphon.test: port gone",
                         "<3>antiphon.test: broke"]
    assert len(lines) > 4 and all(line.startswith("<3>") for line in lines[2:])
    assert lines[-1] == "<3>ZeroDivisionError: division by zero"
    assert not any(TIMESTAMP.search(line) for line in lines)


def test_elsewhere_log_lines_keep_their_timestamps(tmp_path):
    lines = log_lines(tmp_path, journal=False)
    assert TIMESTAMP.search(lines[0]) and lines[0].endswith("INFO antiphon.test: listening")
    assert not any(line.startswith("<") for line in lines)


SWAPPED_STDERR = """
import io, logging, sys
from antiphon.daemon.cli.shared import setup_logging
first = io.StringIO()
sys.stderr = first
setup_logging("info")
first.close()  # as a test's capture is closed after the command it ran in-process
sys.stderr = sys.__stderr__
logging.getLogger("antiphon.test").info("written after the swap")
"""


def test_logging_writes_to_the_stderr_of_the_moment_not_a_closed_one():
    done = subprocess.run([sys.executable, "-c", SWAPPED_STDERR], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert "written after the swap" in done.stderr
    assert "Logging error" not in done.stderr
