"""`antiphon panic`: silence what Antiphon sounds, or what a crashed Antiphon left sounding.

With a daemon running, the daemon is asked through its control socket: it drops the answer
it plays, releases every note it sounds and sends All Notes Off, through its own output,
and plays on. With none, this command sends the panic itself: a process killed by SIGKILL
(or by a crash in native code) releases nothing; a service manager's stop hook runs this
afterwards, and a musician can run it by hand. It sends a note-off for every note, then
All Sound Off and All Notes Off, on all 16 channels.

The stop hook (`ExecStopPost=antiphon panic --only-if-stopped`) must silence only what the
stopped service opened: when the service's start failed because the user's own daemon runs
on the same control socket, that daemon plays on untouched. So with `--only-if-stopped`
nothing is asked over the socket; a daemon holding the socket's lock means nothing is sent,
and otherwise the output recorded by the daemon that died is silenced (nothing at all when
none was recorded: the start failed before any port opened, or the daemon released its
notes as it stopped). See instance_lock.py.
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
    only_if_stopped: Annotated[bool, typer.Option(
        "--only-if-stopped",
        help="A service's stop hook: silence only the output that the daemon on the control "
             "socket opened and left sounding when it died; nothing while a daemon runs "
             "there.")] = False,
) -> None:
    """Silence the output: every note off, all-notes-off and all-sound-off, 16 channels.

    A running daemon is asked to do it (and plays on); with none, the port is opened here."""
    setup_logging("warning")
    if only_if_stopped:
        if out_port is not None or backend is not None:
            fail("--only-if-stopped silences the output the stopped daemon recorded: it takes "
                 "no --out or --backend", USAGE_ERROR)
        _silence_stopped(control_socket, config)
        return
    if out_port is None and _daemon_silenced(control_socket, config):
        return
    from antiphon.daemon.config.daemon_config import ConfigError
    from antiphon.daemon.config.loading import load_config

    try:
        options = load_config(config, os.environ, {"out_port": out_port, "backend": backend})
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)
    _send_panic(options.backend, options.out_port)


def _send_panic(backend: str, out_port: str | None) -> None:
    """Open `out_port` (None: the virtual port) on `backend` and send the panic there."""
    from antiphon.daemon.midi.backends import resolve_backend
    from antiphon.daemon.midi.kept_ports import send_panic
    from antiphon.daemon.midi.ports import RtMidiOutput

    try:
        output = RtMidiOutput(resolve_backend(backend), out_port, exclude_own=True)
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


def _silence_stopped(control_socket: Path | None, config: Path | None) -> None:
    """The stop hook: see the module docstring."""
    from antiphon.daemon.cli.control import socket_path
    from antiphon.daemon.control.instance_lock import stopped_instance

    path = socket_path(control_socket, config)
    try:
        with stopped_instance(path) as found:
            if found.running is not None:
                console.print(f"panic: a daemon (pid {found.running}) runs on {path}, not the "
                              "one that stopped: nothing sent", soft_wrap=True)
                return
            if found.opened is None:
                console.print(f"panic: no daemon that stopped on {path} left an output "
                              "sounding: nothing sent", soft_wrap=True)
                return
            backend, out_port = found.opened.get("backend"), found.opened.get("out_port")
            if not isinstance(backend, str) or not isinstance(out_port, str | None):
                fail(f"the record beside {path} names no output: remove it")
            _send_panic(backend, out_port)
    except OSError as err:
        fail(str(err))


def _daemon_silenced(control_socket: Path | None, config: Path | None) -> bool:
    """Ask a running daemon to panic; False when none answers (then we send it ourselves)."""
    from antiphon.daemon.cli.control import socket_path
    from antiphon.daemon.control.socket_server import NoDaemon, ask

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
