"""`antiphon run`: every option of the daemon as a flag, read into one DaemonConfig (file <
environment < flags), then the daemon serves until a stop signal. The flags are the table
of options' (options.py makes them from it): this module declares none of its own."""

import os
from typing import Any

import typer
from rich.markup import escape

from antiphon.daemon.cli.exit_status import FORCED_EXIT
from antiphon.daemon.cli.options import ConfigOption, given_options, run_signature
from antiphon.daemon.cli.shared import USAGE_ERROR, error_console, fail, setup_logging
from antiphon.daemon.config.daemon_config import ConfigError
from antiphon.daemon.config.loading import ConfigReader


def run(config: ConfigOption = None, **options: Any) -> None:
    """Listen on a MIDI input and answer each phrase on a MIDI output, until Ctrl-C.

    Options also come from --config (TOML) and ANTIPHON_<OPTION> variables (ANTIPHON_BPM=90).

    Precedence: the command line, then the environment, then the file, then the defaults.
    """
    overrides = given_options(options)
    setup_logging("warning")  # what reading the config warns of is a log line like any
    reader = ConfigReader(config, os.environ, overrides)
    try:
        settings = reader()
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)
    setup_logging(settings.log_level)
    from antiphon.daemon.service.signals import (
        ForcedShutdown,
        ignore_stop_signals,
        stop_was_forced,
    )
    from antiphon.daemon.service.startup import run_daemon

    try:
        # A reload reads the file and the environment again; the flags given still win.
        status = run_daemon(settings, reader)
    except ForcedShutdown as err:
        ignore_stop_signals()  # the notes are released: the rest of a burst changes nothing
        error_console.print(f"[yellow]{escape(str(err))}[/]")
        raise typer.Exit(FORCED_EXIT) from None
    except (OSError, ValueError) as err:
        fail(str(err))
    # A second signal that came once the clean stop had already finished still asked to
    # force it: the status must not depend on how fast the stop was.
    status = FORCED_EXIT if status == 0 and stop_was_forced() else status
    ignore_stop_signals()
    raise typer.Exit(status)


# typer reads a command's parameters from its signature: --config, then every option of
# the table (config/config_fields.py), declared there once.
run.__signature__ = run_signature()
