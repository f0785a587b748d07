"""The options of `antiphon run` as typer parameters, made from the table of options
(config/config_fields.py): each field's flags, help and default as the help shows it, its
type as typer reads it. `antiphon run` takes them all (run_signature); `demo`,
`continue` and `eval answers` take some of them (the aliases below). Reading the config
ends a bad value in one red line.
"""

import inspect
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from antiphon.daemon.cli.shared import USAGE_ERROR, fail
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.loading import TomlFloat, load_config
from antiphon.daemon.config.option_names import cli_flag, field_names, option_info
from antiphon.daemon.config.values import base_type

DEFAULTS = DaemonConfig()


def default_note(field_name: str) -> str:
    """The help text's default marker (escaped: rich would take [...] for markup): the
    table's words for it, else the default value."""
    shown = option_info(field_name).default_text
    if shown is None:
        value = getattr(DEFAULTS, field_name)
        shown = "none" if value is None else f"{value:g}" if isinstance(value, float) \
            else f"{value}"
    return f"\\[default: {shown}]"


def written_number(text: str) -> float:
    """A number option's command-line text, as a float that keeps the text (load_config
    holds it to the option's limits exactly: --bpm 19.99999999999999999999 is 20.0 once a
    float, and still refused, said as written)."""
    try:
        return TomlFloat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number") from None


# What every number option of `run` and `demo` takes: typer's float, with its text kept.
NUMBER = {"parser": written_number, "metavar": "FLOAT"}


def config_option(field_name: str) -> Any:
    """The option of field `field_name` as a typer parameter's annotation (None when not
    given on the command line: the file, the environment or the default decide)."""
    info = option_info(field_name)
    kind, _ = base_type(field_name)
    flags = list(info.flags)
    settings: dict[str, Any] = {"help": f"{info.help} {default_note(field_name)}"}
    if kind is bool:  # --thru / --no-thru: either way says it, so no default is shown
        flag = cli_flag(field_name)
        flags = [f"{flag}/--no-{flag.removeprefix('--')}"]
        settings["show_default"] = False
    elif kind is float:
        settings.update(NUMBER)
    if info.file:
        kind = Path
        settings["dir_okay"] = False
    if info.panel is not None:
        settings["rich_help_panel"] = info.panel
    return Annotated[kind | None, typer.Option(*flags, **settings)]


def run_signature() -> inspect.Signature:
    """`antiphon run`'s parameters: --config, then every option of the table as a keyword
    parameter, in the table's order."""
    config = inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                               default=None, annotation=ConfigOption)
    return inspect.Signature([config, *(
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=config_option(name)) for name in field_names())])


def given_options(values: dict[str, Any]) -> dict[str, Any]:
    """The command line's option values as the config reads them (a path as its text)."""
    return {name: str(value) if isinstance(value, Path) else value
            for name, value in values.items()}


def read_config(config_file: Path | None, overrides: dict) -> DaemonConfig:
    try:
        return load_config(config_file, os.environ, overrides)
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)


# Options `run` shares with `demo`, `continue` and `eval answers`.
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="TOML file with options (keys named like the long options, e.g. bpm).",
    dir_okay=False)]
BackendOption = config_option("backend")
ModelOption = config_option("model")
DeviceOption = config_option("device")
BpmOption = config_option("bpm")
TemperatureOption = config_option("temperature")
TopPOption = config_option("top_p")
SeedOption = config_option("seed")
LogLevelOption = config_option("log_level")
CandidatesOption = config_option("candidates")
TextureOption = config_option("texture")
