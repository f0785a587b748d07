"""The training commands' defaults are the training package's own: each command's
`TrainConfig` (training/fit/train_config.py) and the token families' configs
(training/families/token_configs.py), read when shown or used, so they cannot drift."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.training.families.token_configs import TOKEN_FAMILY_DEFAULTS, option_field
from antiphon.training.fit.train_config import COMMAND_TRAINING, TrainConfig

runner = CliRunner()
TRAIN_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}
MODEL_OPTIONS = {"cell", "hidden", "embedding", "width", "heads", "attention_window", "layers",
                 "dropout"}


def command(name: str):
    return typer.main.get_command(app).commands[name]


def option_help(name: str, option: str) -> str:
    """The help row of `--option` in `antiphon NAME -h`, its wrapped lines joined."""
    output = runner.invoke(app, [name, "-h"], env={"COLUMNS": "200"}).output
    rows = re.split(r"\n│[ *]+(?=--)", output)
    row = next(row for row in rows if row.startswith(option + " "))
    return " ".join(line.strip(" │") for line in row.splitlines())


@pytest.mark.parametrize("name", sorted(COMMAND_TRAINING))
def test_training_options_default_to_the_commands_train_config(name):
    click_command = command(name)
    context = typer.Context(click_command)
    settings = [param for param in click_command.params if param.name in TRAIN_FIELDS]
    assert len(settings) >= 4, [param.name for param in click_command.params]
    for param in settings:
        expected = getattr(COMMAND_TRAINING[name], param.name)
        assert param.get_default(context) == expected, f"antiphon {name} --{param.name}"
        shown = ", ".join(map(str, expected)) if isinstance(expected, tuple) else str(expected)
        assert f"[default: {shown}]" in option_help(name, "--" + param.name.replace("_", "-"))


def test_model_options_are_the_familys_and_say_each_familys_default():
    click_command = command("train")
    context = typer.Context(click_command)
    model_options = {param.name for param in click_command.params
                     if param.name not in TRAIN_FIELDS
                     and any(hasattr(config, option_field(param.name))
                             for config in TOKEN_FAMILY_DEFAULTS.values())}
    assert model_options == MODEL_OPTIONS
    for param in click_command.params:
        if param.name not in MODEL_OPTIONS:
            continue
        assert param.get_default(context) is None  # left out: the family trained decides
        text = option_help("train", "--" + param.name.replace("_", "-"))
        assert text.count("[default:") == 1, text
        for config in TOKEN_FAMILY_DEFAULTS.values():
            if hasattr(config, option_field(param.name)):
                assert str(getattr(config, option_field(param.name))) in text, text
    assert "[default: 2 recurrent, 4 transformer]" in option_help("train", "--layers")


def test_a_default_changed_in_training_changes_the_command(monkeypatch):
    monkeypatch.setitem(COMMAND_TRAINING, "train",
                        dataclasses.replace(COMMAND_TRAINING["train"], epochs=7))
    monkeypatch.setitem(TOKEN_FAMILY_DEFAULTS, "recurrent",
                        dataclasses.replace(TOKEN_FAMILY_DEFAULTS["recurrent"], hidden=96))
    assert command("train").params  # built afresh: nothing was read at import
    context = typer.Context(command("train"))
    epochs = next(param for param in command("train").params if param.name == "epochs")
    assert epochs.get_default(context) == 7
    assert "[default: 7]" in option_help("train", "--epochs")
    assert "[default: 96]" in option_help("train", "--hidden")


def loaded_modules(arguments: list[str]) -> list[str]:
    """The torch and antiphon.training modules loaded by `antiphon ARGUMENTS`, in a
    fresh interpreter."""
    code = ("import sys\nfrom typer.testing import CliRunner\n"
            "from antiphon.daemon.cli.app import app\n"
            f"result = CliRunner().invoke(app, {arguments!r})\n"
            "assert result.exit_code == 0, result.output\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'"
            " or m.startswith('antiphon.training'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_help_of_a_training_command_loads_no_torch_and_run_no_training():
    assert set(loaded_modules(["train", "--help"])) <= {
        "antiphon.training", "antiphon.training.fit", "antiphon.training.fit.train_config",
        "antiphon.training.families", "antiphon.training.families.token_configs"}
    assert loaded_modules(["train-frames", "--help"])  # read lazily, but read
    assert loaded_modules(["run", "--help"]) == []
