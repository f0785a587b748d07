"""The table of options (config_fields.py) is the one declaration of every option: each
field reaches the user as a flag of `antiphon run` (listed once in its help), a variable,
a TOML key and a described line of `antiphon config init`; and the docs' list of live
options is the table's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

import antiphon.daemon.config.config_fields as config_fields
from antiphon.daemon.cli.app import app
from antiphon.daemon.cli.options import given_options
from antiphon.daemon.config.config_fields import ConfigFields
from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.config.loading import load_config_with_sources
from antiphon.daemon.config.option_names import (
    LIVE_OPTIONS,
    cli_flag,
    cli_flags,
    env_names,
    field_names,
    option_info,
)
from antiphon.daemon.config.toml_file import example_value, field_comments, toml_value
from antiphon.daemon.config.values import base_type

ROOT = Path(__file__).resolve().parents[3]
FIELDS = field_names()


def a_value(name: str):
    """A value for the option other than its default, which DaemonConfig takes alone."""
    default = getattr(ConfigFields(), name)
    chosen = {"backend": "jack", "device": "cpu", "clock": "midi", "answer_on": "bar",
              "texture": "melody", "phrase_end": "pedal", "log_level": "debug",
              "osc_host": "0.0.0.0", "scale": "D dorian", "listen_channels": "1-4",
              "top_p": 0.9, "highest_pitch": 100}
    if name in chosen:
        return chosen[name]
    if isinstance(default, bool):
        return not default
    return example_value(name) if default is None else default + 1


def as_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@pytest.fixture
def run_command():
    return typer.main.get_command(app).commands["run"]


@pytest.mark.parametrize("name", FIELDS)
def test_every_option_has_a_flag_a_variable_a_toml_key_help_and_a_description(
        name, run_command, tmp_path):
    info = option_info(name)
    assert info.help.strip() and info.help.endswith((".", ")")), name
    assert field_comments()[name].strip(), f"{name} has no description for the config file"
    value = a_value(name)
    if name == "timing_trace":
        value = str(tmp_path / "trace.jsonl")
    DaemonConfig(**{name: value})  # a value the option takes, for the layers below
    # The flag: typer parses it into the value the config reads.
    flag = cli_flag(name)
    args = ([flag] if value else [f"--no-{flag[2:]}"]) if isinstance(value, bool) \
        else [flag, as_text(value)]
    params = run_command.make_context("run", args).params
    assert given_options({name: params[name]}) == {name: value}
    # The variables: every one of them sets it, and is said to.
    for variable in env_names(name):
        config, sources = load_config_with_sources(None, {variable: as_text(value)},
                                                   use_default_file=False)
        assert getattr(config, name) == value and sources[name] == f"environment {variable}"
    # The TOML key: the field's name.
    path = tmp_path / "antiphon.toml"
    path.write_text(f"{name} = {toml_value(value)}\n")
    config, sources = load_config_with_sources(path, {}, use_default_file=False)
    assert getattr(config, name) == value and sources[name] == f"file {path}"


def test_run_takes_exactly_the_tables_options_with_their_flags_and_help(run_command):
    options = {param.name: param for param in run_command.params}
    assert list(options) == ["config", *FIELDS]  # --help lists them in the table's order
    for name in FIELDS:
        flags = options[name].opts
        kind, _ = base_type(name)
        assert flags == ([f"{cli_flag(name)}"] if kind is bool else list(cli_flags(name)))
        assert options[name].help.startswith(option_info(name).help), name
        assert "[default: " in options[name].help, name


def test_run_help_lists_each_option_once():
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = [line.strip("│ ").split()[0] for line in result.output.splitlines()
            if line.startswith("│ --")]
    listed = [flag for row in rows for flag in row.split(",")]
    assert sorted(listed) == sorted(
        ["--config", "--help", *(flag for name in FIELDS for flag in cli_flags(name))])


def test_the_ports_take_their_flags_names_as_variables_too():
    assert env_names("in_port") == ("ANTIPHON_IN_PORT", "ANTIPHON_IN")
    assert env_names("out_port") == ("ANTIPHON_OUT_PORT", "ANTIPHON_OUT")
    assert env_names("bpm") == ("ANTIPHON_BPM",)


def test_the_docs_list_the_live_options_of_the_table():
    text = (ROOT / "docs" / "SERVICE.md").read_text()
    paragraph = text[text.index("**Live options** (`antiphon set KEY VALUE`, `reload`, OSC):"):]
    listed = re.findall(r"`(\w+)`", paragraph[paragraph.index("OSC):"):
                                             paragraph.index("; `none` sets")])
    assert listed == list(LIVE_OPTIONS)


def test_the_table_imports_nothing_of_the_configuration():
    """The table is the room's lowest module: whatever reads the options builds on it."""
    tree = ast.parse(Path(config_fields.__file__).read_text())
    assert not [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("antiphon.daemon.config")]
