"""`antiphon panic`: silence what Antiphon sounds, or what a crashed Antiphon left sounding.

With a daemon running, the daemon is asked through its control socket: it drops the answer
it plays, releases every note it sounds and sends All Notes Off, through its own output,
and plays on. With none, this command sends the panic itself: a process killed by SIGKILL
(or by a crash in native code) releases nothing; a service manager's stop hook runs this
afterwards (`ExecStopPost=antiphon panic ...`), and a musician can run it by hand. It sends
a note-off for every note, then All Sound Off and All Notes Off, on all 16 channels.
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
    control_socket: Annotated[Path | None, typer.Option(
        help="A running daemon's control socket. \\[default: the config's, else control.sock "
             "in $XDG_RUNTIME_DIR/antiphon]", dir_okay=False)] = None,
) -> None:
    """Silence the output: every note off, all-notes-off and all-sound-off, 16 channels.

    A running daemon is asked to do it (and plays on); with none, the port is opened here."""
    setup_logging("warning")
    if out_port is None and _daemon_silenced(control_socket, config):
        return
    from antiphon.daemon.midi.backends import resolve_backend
    from antiphon.daemon.midi.kept_ports import send_panic
    from antiphon.daemon.midi.ports import RtMidiOutput
    from antiphon.daemon.service.config import ConfigError
    from antiphon.daemon.service.config_loading import load_config

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


def _daemon_silenced(control_socket: Path | None, config: Path | None) -> bool:
    """Ask a running daemon to panic; False when none answers (then we send it ourselves)."""
    from antiphon.daemon.cli.control import socket_path
    from antiphon.daemon.service.control_socket import NoDaemon, ask

    path = socket_path(control_socket, config)
    try:
        answer = ask(path, {"command": "panic"})
    except NoDaemon:
        return False
    except OSError as err:
        fail(str(err))
    if not answer.get("ok"):
        fail(str(answer.get("error")))
    console.print(f"panic: the daemon on {path} released {answer['released']} notes and "
                  "sent all notes off")
    return True
