"""`antiphon config init` and `antiphon config show`, through the real command line, with
the XDG folders in tmp_path; and the option descriptions read from DaemonConfig's source."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.daemon.config import paths
from antiphon.daemon.config.daemon_config import DaemonConfig, field_names
from antiphon.daemon.config.loading import load_config
from antiphon.daemon.config.toml_file import (
    example_value,
    field_comments,
    render_config_file,
    toml_value,
)


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    for variable in [name for name in os.environ if name.startswith("ANTIPHON_")]:
        monkeypatch.delenv(variable)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_option_has_a_comment():
    comments = field_comments()
    assert set(comments) == set(field_names())
    assert not [name for name, text in comments.items() if not text.strip()]
    assert comments["bpm"] == "Tempo of the internal clock, in beats per minute."
    assert comments["max_answer_beats"] == "...and at most this many."
    assert comments["in_port"].startswith("MIDI input to listen to") and \
        comments["in_port"].endswith("that a keyboard or DAW can connect to.")


@dataclasses.dataclass
class Commented:
    # The first field.
    # Two lines about it.
    first: int = 1
    second: int = 2  # a note after the code describes this line, not the next field

    # A section heading, parted from the field by a blank line.

    third: int = 3
    # A comment with # inside it.
    fourth: str = "# not a comment"


def test_comments_are_the_lines_right_above_a_field():
    assert field_comments(Commented) == {
        "first": "The first field. Two lines about it.", "second": "", "third": "",
        "fourth": "A comment with # inside it.",
    }


@pytest.mark.parametrize(("value", "literal"), [
    (True, "true"), (3, "3"), (120.0, "120.0"), (0.5, "0.5"),
    ('say "hi"\\', '"say \\"hi\\"\\\\"'), ("Bb major", '"Bb major"'),
])
def test_toml_values(value, literal):
    assert toml_value(value) == literal


def test_init_writes_the_commented_file_where_it_is_read(xdg):
    result = CliRunner().invoke(app, ["config", "init"])
    assert result.exit_code == 0, result.output
    path = xdg / "config" / "antiphon" / "antiphon.toml"
    assert str(path) in result.output
    text = path.read_text()
    assert text == render_config_file()
    assert "# bpm = 120.0\n" in text and '# backend = "auto"\n' in text
    assert "# panic_on_start = true\n" in text
    assert "# Tempo of the internal clock, in beats per minute.\n# bpm = 120.0" in text
    assert load_config(path) == DaemonConfig() == load_config()  # as read by default too


def test_init_refuses_to_overwrite_without_force(xdg):
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    path.write_text("bpm = 90\n")
    runner = CliRunner()
    result = runner.invoke(app, ["config", "init"])
    assert result.exit_code == 2 and "--force" in result.output
    assert path.read_text() == "bpm = 90\n"
    result = runner.invoke(app, ["config", "init", "--force"])
    assert result.exit_code == 0, result.output
    assert load_config(path) == DaemonConfig()


def test_init_writes_where_config_says_creating_folders(xdg):
    path = xdg / "a" / "b" / "studio.toml"
    result = CliRunner().invoke(app, ["config", "init", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert path.is_file() and not paths.config_file().exists()


@pytest.mark.parametrize("name", field_names())
def test_uncommenting_any_one_line_loads(xdg, name):
    lines = render_config_file().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(f"# {name} = "))
    lines[index] = lines[index][2:]
    path = xdg / "edited.toml"
    path.write_text("".join(lines))
    config = load_config(path, use_default_file=False)
    default = getattr(DaemonConfig(), name)
    assert getattr(config, name) == (example_value(name) if default is None else default)


def test_show_lists_every_option_with_its_source(xdg, monkeypatch):
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    path.write_text("bpm = 96\nscale = 'D dorian'\n")
    monkeypatch.setenv("ANTIPHON_TEMPERATURE", "0.7")
    result = CliRunner().invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["config_file"] == str(path)
    options = document["options"]
    assert list(options) == field_names()
    assert options["bpm"] == {"value": 96.0, "source": f"file {path}"}
    assert options["temperature"] == {"value": 0.7, "source": "environment ANTIPHON_TEMPERATURE"}
    assert options["seed"] == {"value": None, "source": "default"}
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    for name in field_names():
        assert name in result.output
    assert "environment ANTIPHON_TEMPERATURE" in result.output and '"D dorian"' in result.output


def test_show_reads_the_file_given_and_reports_a_missing_default(xdg):
    runner = CliRunner()
    document = json.loads(runner.invoke(app, ["config", "show", "--json"]).output)
    assert document["config_file"] is None
    assert {option["source"] for option in document["options"].values()} == {"default"}
    named = xdg / "studio.toml"
    named.write_text("channel = 5\n")
    result = runner.invoke(app, ["config", "show", "--json", "--config", str(named)])
    assert json.loads(result.output)["options"]["channel"]["value"] == 5


def test_show_fails_on_a_bad_file_naming_it(xdg):
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    path.write_text("bpm = 'fast'\n")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "expected a number" in result.output and str(path) in result.output
