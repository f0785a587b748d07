"""`antiphon config show` and `antiphon config init`: the configuration in effect, and a
commented config file to start from (registered on the app in app.py as `config`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail, setup_logging
from antiphon.daemon.config import paths
from antiphon.daemon.config.daemon_config import ConfigError
from antiphon.daemon.config.loading import load_config_with_sources
from antiphon.daemon.config.toml_file import render_config_file, toml_value

config_app = typer.Typer(
    name="config",
    help="Show the configuration in effect, or write a commented config file to edit.",
    no_args_is_help=True,
)


@config_app.command()
def show(
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML file to read. \\[default: the platform's config file, if any]",
        dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON (for scripts): each option's value and source.")] = False,
) -> None:
    """Print every option of `antiphon run`: its value, and where it came from (default,
    config file, ANTIPHON_* variable)."""
    setup_logging("warning")  # a misspelt ANTIPHON_ variable is a warning worth seeing
    try:
        options, sources = load_config_with_sources(config, os.environ)
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)
    file_read = config or paths.existing_config_file()
    values: dict[str, Any] = {name: getattr(options, name) for name in sources}
    if as_json:
        document = {
            "config_file": None if file_read is None else str(file_read),
            "options": {name: {"value": values[name], "source": sources[name]}
                        for name in values},
        }
        # Plain print: rich would colour and wrap the JSON a script has to parse.
        print(json.dumps(document, indent=2))
        return
    where = (f"file {file_read}" if file_read is not None
             else f"no file at {paths.config_file()} (`antiphon config init` writes one)")
    table = Table(title=f"Configuration: {escape(where)}", title_justify="left")
    table.add_column("option", no_wrap=True)  # the TOML key: copied into a file as it is
    table.add_column("value")
    table.add_column("source")
    for name, value in values.items():
        shown = "[dim]none[/]" if value is None else escape(toml_value(value))
        source = sources[name]
        styled = f"[dim]{source}[/]" if source == "default" else f"[bold]{escape(source)}[/]"
        table.add_row(name, shown, styled)
    console.print(table)


@config_app.command()
def init(
    config: Annotated[Path | None, typer.Option(
        "--config", help="Where to write the file. \\[default: the platform's config file]",
        dir_okay=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite a file that is already there.")] = False,
) -> None:
    """Write a config file listing every option with its description and default (all
    commented out: uncomment a line to set that option)."""
    target = config or paths.config_file()
    if (target.exists() or target.is_symlink()) and not force:
        fail(f"{target} already exists; --force overwrites it", USAGE_ERROR)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_config_file(), encoding="utf-8")
    except OSError as err:
        fail(f"cannot write {target}: {err.strerror or err}")
    used = "" if config is not None else " (read when --config is not given)"
    console.print(f"wrote {escape(str(target))}{used}", soft_wrap=True)
