"""`antiphon status`, `set`, `model` and `reload`: steer a running daemon through its control
socket, without stopping the music.

The socket is the config's `control_socket` (the same file, `ANTIPHON_*` variables and
`--control-socket` as `antiphon run` reads), by default control.sock in the user's runtime
folder. Each command sends one request and prints the answer; a refusal (a bad value, a
model that does not load) is one red line and exit status 1, and the daemon plays on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail

SocketOption = Annotated[Path | None, typer.Option(
    "--control-socket",
    help="The daemon's control socket. \\[default: the config's control_socket, else "
         "control.sock in $XDG_RUNTIME_DIR/antiphon]", dir_okay=False)]
ConfigFileOption = Annotated[Path | None, typer.Option(
    "--config", help="TOML file whose control_socket to use.", dir_okay=False)]


def socket_path(control_socket: Path | None, config_file: Path | None = None) -> Path:
    """Where the daemon listens, as `antiphon run` with the same options would."""
    from antiphon.daemon.config import paths
    from antiphon.daemon.config.daemon_config import ConfigError
    from antiphon.daemon.config.loading import load_config

    if control_socket is not None:
        return control_socket.expanduser()
    try:
        configured = load_config(config_file, os.environ).control_socket
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)
    return Path(configured).expanduser() if configured else paths.control_socket()


def ask_daemon(path: Path, request: dict[str, Any], timeout: float | None = None
               ) -> dict[str, Any]:
    """The daemon's answer to `request`; fails (exit 1) when none answers or it refuses.
    `timeout`: seconds to wait for the answer, beyond the usual (a learn waits for a knob)."""
    from antiphon.daemon.control.socket_server import CLIENT_TIMEOUT_SECONDS, ask

    try:
        answer = ask(path, request, CLIENT_TIMEOUT_SECONDS + (timeout or 0.0))
    except OSError as err:
        fail(str(err))
    if not answer.get("ok"):
        fail(str(answer.get("error", "the daemon refused")))
    return answer


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    control_socket: SocketOption = None,
    config: ConfigFileOption = None,
) -> None:
    """What the running daemon is doing: ports, model, mode, tempo, counters, timing."""
    answer = ask_daemon(socket_path(control_socket, config), {"command": "status"})
    state = answer["status"]
    if as_json:
        print(json.dumps(state, indent=2))
        return
    render_status(state)


def set_option(
    key: Annotated[str, typer.Argument(help="A live option: temperature, top_p, scale, ...")],
    value: Annotated[str, typer.Argument(help="Its new value ('none' for no value).")],
    control_socket: SocketOption = None,
    config: ConfigFileOption = None,
) -> None:
    """Change a setting of the running daemon, checked as the config checks it."""
    answer = ask_daemon(socket_path(control_socket, config),
                        {"command": "set", "key": key, "value": value})
    if "model" in answer:
        _print_model(answer["model"])
        return
    console.print(f"{answer['key']} = {escape(repr(answer['value']))}")
    for warning in answer.get("warnings", []):
        console.print(f"warning: {escape(warning)}", soft_wrap=True)


def model_command(
    name: Annotated[str, typer.Argument(
        help="A model's name (your models, then the shipped ones) or an .onnx file.")],
    control_socket: SocketOption = None,
    config: ConfigFileOption = None,
) -> None:
    """Swap the running daemon's model, without stopping the music.

    The new model loads beside the old, the answer playing finishes, the next answer is
    the new model's. A file that does not load is refused and the old model plays on."""
    if name.endswith(".onnx"):
        name = str(Path(name).expanduser().resolve())  # the daemon has its own working folder
    answer = ask_daemon(socket_path(control_socket, config), {"command": "model", "name": name})
    _print_model(answer["model"])


def reload(
    control_socket: SocketOption = None,
    config: ConfigFileOption = None,
) -> None:
    """Make the running daemon re-read its config, as SIGHUP does to the service.

    Live options change at once, a new model is swapped in; a bad config is refused and the
    old one plays on."""
    answer = ask_daemon(socket_path(control_socket, config), {"command": "reload"})
    applied = ", ".join(answer["applied"]) or "nothing changed"
    console.print(f"reloaded: {escape(applied)}")
    if answer["needs_restart"]:
        console.print(f"[yellow]only at a restart:[/] {escape(', '.join(answer['needs_restart']))}")


def _print_model(described: dict) -> None:
    console.print(f"model: {escape(described['name'])} ({escape(described['family'])}, "
                  f"{escape(described['representation'])}) from {escape(described['path'])}")


def render_status(state: dict) -> None:
    """The status as a person reads it."""
    minutes, seconds = divmod(int(state["uptime_seconds"]), 60)
    model_state = state["model"]
    tempo = state["tempo"]
    peers = ""  # a Link session's other apps
    if "peers" in tempo:
        peers = f", {tempo['peers']} other peer{'' if tempo['peers'] == 1 else 's'}"
    console.print(
        f"[bold]{escape(state['mode'])}[/], up {minutes // 60}h{minutes % 60:02d}m{seconds:02d}s, "
        f"pid {state['pid']}, {state['resident_mb']:g} MB resident")
    console.print(f"model {escape(model_state['name'])} ({escape(model_state['family'])}, "
                  f"{escape(model_state['representation'])}, {model_state['device']}); "
                  f"tempo {tempo['bpm']:g} BPM ({tempo['source']}{peers})")
    ports = Table(title="ports", title_justify="left")
    for column in ("", "own port", "connected to", "state"):
        ports.add_column(column)
    sides = ("input", "clock_in", "output", "clock_out")
    for side in (side for side in sides if side in state["ports"]):
        port = state["ports"][side]
        wanted = f"(wants {port['wanted']})" if port.get("wanted") else ""
        ports.add_row(side.replace("_", " "), escape(port["port"] or "(none yet)"),
                      escape(port.get("to") or wanted), port["state"])
    console.print(ports)
    if latency := state.get("latency"):
        # What the daemon compensates, as a DAW states its own latency.
        console.print(f"latency: output {latency['output_ms']:g} ms (sent that much early), "
                      f"input {latency['input_ms']:g} ms (pulses timed back); from "
                      f"{escape(latency['from'])}", highlight=False)
    counters = state["counters"]
    console.print("  ".join(f"{name.replace('_', ' ')} {value}"
                            for name, value in counters.items()))
    timing = Table(title="timing (ms, recent)", title_justify="left")
    for column in ("", "p50", "p95", "p99", "max", "count"):
        timing.add_column(column, justify="right")
    for name in ("answer_latency_ms", "generation_ms", "send_error_ms"):
        figures = state[name]
        timing.add_row(name.removesuffix("_ms").replace("_", " "),
                       *(str(figures.get(key, "")) for key in ("p50", "p95", "p99", "max")),
                       str(figures["count"]))
    console.print(timing)
    settings = ", ".join(f"{key}={value!r}" for key, value in state["settings"].items())
    console.print(f"settings: {escape(settings)}")
    record = state.get("record", {})
    if record.get("take"):
        stopped = f" (stopped: {record['failure']})" if record.get("failure") else ""
        console.print(f"recording take {escape(record['take'])} in "
                      f"{escape(record['folder'])}{escape(stopped)}", highlight=False)
    else:
        console.print("not recording", highlight=False)
