import re
import subprocess
import sys

import mido
import pytest
import typer
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ports", "run", "demo"):
        assert command in result.output


def all_commands() -> list:
    root = typer.main.get_command(app)
    return [(name, command) for name, command in root.commands.items()]


@pytest.mark.parametrize(("name", "command"), all_commands(), ids=lambda v: str(v))
def test_every_option_says_what_it_does_and_shows_one_default(name, command):
    for param in command.params:
        if param.param_type_name == "option":
            assert param.help, f"antiphon {name} {param.opts[0]} has no help text"
    result = runner.invoke(app, [name, "-h"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for line in result.output.splitlines():
        assert len(re.findall(r"\[default:", line)) <= 1, line


def test_version_and_short_help():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"antiphon {version('antiphon')}"
    assert runner.invoke(app, ["-h"]).output == runner.invoke(app, ["--help"]).output


def test_python_dash_m_antiphon_is_the_command():
    result = subprocess.run([sys.executable, "-m", "antiphon", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("antiphon ")


def test_bad_option_is_a_usage_error_naming_it():
    result = runner.invoke(app, ["run", "--bpm", "0"])
    assert result.exit_code == 2
    assert "--bpm" in result.output and "got 0" in result.output


def test_bad_environment_value_is_a_usage_error_naming_it():
    result = runner.invoke(app, ["run"], env={"ANTIPHON_TEMPERATURE": "hot"})
    assert result.exit_code == 2
    assert "ANTIPHON_TEMPERATURE" in result.output


def test_bad_backend_for_ports():
    result = runner.invoke(app, ["ports", "--backend", "oss"])
    assert result.exit_code == 2
    assert "backend must be one of" in result.output


def test_bad_demo_transport():
    result = runner.invoke(app, ["demo", "--transport", "pigeon"])
    assert result.exit_code == 2
    assert "--transport" in result.output


def test_every_shipped_model_plays_in_the_demo(tmp_path):
    """`--model NAME` switches to any shipped model, token or piano-roll alike."""
    from antiphon.exported_models import available_models

    for name in available_models():
        out = tmp_path / f"{name}.mid"
        result = runner.invoke(app, ["demo", "--transport", "loopback", "--model", name,
                                     "--seed", "3", "--bpm", "300", "--output", str(out)])
        assert result.exit_code == 0, f"{name}: {result.output}"
        assert "answer" in result.output and out.is_file()
        tracks = mido.MidiFile(out).tracks
        assert any(m.type == "note_on" and m.velocity for m in tracks[-1]), name
