"""`antiphon panic`: silence a synth that a crashed or killed Antiphon left sounding.

A process killed by SIGKILL (or by a crash in native code) releases nothing; a service
manager's stop hook runs this afterwards (`ExecStopPost=antiphon panic --out ...`), and a
musician can run it by hand. It sends a note-off for every note, then All Sound Off and All
Notes Off, on all 16 channels.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail, setup_logging

# A MIDI system sends from its own cycle: closing the port at once could drop the tail.
FLUSH_SECONDS = 0.1


def panic(
    out_port: Annotated[str | None, typer.Option(
        "--out", "--out-port",
        help="Output port to silence (name or part of it). \\[default: the config's out_port; "
             "with none, a virtual port 'Antiphon Out' for what reconnects to it]")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML file whose out_port and backend to use.", dir_okay=False)] = None,
    backend: Annotated[str | None, typer.Option(
        help="MIDI system: auto, alsa, jack, coremidi, winmm. \\[default: auto]")] = None,
) -> None:
    """Send note-off for every note and all-notes-off / all-sound-off on all 16 channels."""
    setup_logging("warning")
    from antiphon.daemon.midi.backends import resolve_backend
    from antiphon.daemon.midi.kept_ports import send_panic
    from antiphon.daemon.midi.ports import RtMidiOutput
    from antiphon.daemon.service.config import ConfigError, load_config

    try:
        options = load_config(config, os.environ, {"out_port": out_port, "backend": backend})
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)
    try:
        output = RtMidiOutput(resolve_backend(options.backend), options.out_port,
                              exclude_own=True)
    except ValueError as err:
        fail(str(err), USAGE_ERROR)
    except OSError as err:
        fail(str(err))
    try:
        sent = send_panic(output)
        time.sleep(FLUSH_SECONDS)
    except OSError as err:
        fail(str(err))
    finally:
        output.close()
    console.print(f"panic: {sent} messages sent to {output.name!r} (16 channels)")
