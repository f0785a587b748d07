"""What `antiphon run` and `antiphon demo` share: the config's defaults in the help, the
options both take, and reading the config with its errors as one red line."""

import os
from pathlib import Path
from typing import Annotated

import typer

from antiphon.console import FORCED_EXIT  # noqa: F401 (as a shell reports Ctrl-C)
from antiphon.daemon.cli.shared import USAGE_ERROR, fail
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.loading import TomlFloat, load_config
from antiphon.daemon.midi.backends import BACKEND_NAMES

DEFAULTS = DaemonConfig()


def default_note(field_name: str) -> str:
    """The help text's default marker (escaped: rich would take [...] for markup)."""
    value = getattr(DEFAULTS, field_name)
    return f"\\[default: {value:g}]" if isinstance(value, float) else f"\\[default: {value}]"


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


def read_config(config_file: Path | None, overrides: dict) -> DaemonConfig:
    try:
        return load_config(config_file, os.environ, overrides)
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)


# Options shared by `run` and `demo`; their help shows the DaemonConfig default.
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="TOML file with options (keys named like the long options, e.g. bpm).",
    dir_okay=False)]
BackendOption = Annotated[str | None, typer.Option(
    help=f"MIDI system: {', '.join(BACKEND_NAMES)}. {default_note('backend')}")]
ModelOption = Annotated[str | None, typer.Option(
    help="Model: an .onnx file or a shipped model's name. \\[default: the shipped default]")]
DeviceOption = Annotated[str | None, typer.Option(
    help=f"Run the model on: auto, cpu, cuda. {default_note('device')}")]
BpmOption = Annotated[float | None, typer.Option(
    **NUMBER,
    help=f"Tempo in beats per minute. {default_note('bpm')}")]
TemperatureOption = Annotated[float | None, typer.Option(
    **NUMBER,
    help=f"Sampling temperature: <1 safer, >1 wilder. {default_note('temperature')}")]
TopPOption = Annotated[float | None, typer.Option(
    **NUMBER,
    help="Sample among the likeliest events holding this much probability (0-1]. "
         f"{default_note('top_p')}")]
SeedOption = Annotated[int | None, typer.Option(
    help="Random seed, for repeatable answers. \\[default: none]")]
LogLevelOption = Annotated[str | None, typer.Option(
    help=f"debug, info, warning or error. {default_note('log_level')}")]
CandidatesOption = Annotated[int | None, typer.Option(
    help="Answers drawn per call, of which the best is played (judged by a critic and by "
         "how near each is to the call's notes, density and register); 1: the first, "
         f"streamed as it is sampled. {default_note('candidates')}")]
TextureOption = Annotated[str | None, typer.Option(
    help="Answer in one voice or in chords: auto (as the call: a single line gets a single "
         "line), melody (one voice) or chords (up to --max-polyphony). "
         f"{default_note('texture')}")]
