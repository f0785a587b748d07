"""`antiphon learn` and `antiphon knobs`: a MIDI controller's knobs on the running daemon.

`learn SETTING` asks the daemon to take the next knob that moves on its input for SETTING
(mapped at once, live), then writes the mapping into the config file, so the next start
has it too. `knobs` lists the map with each setting's value, and `--send` sends every
mapped value out as its CC, so a controller's LED rings show where things stand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from antiphon.daemon.cli.control import ConfigFileOption, SocketOption, ask_daemon, socket_path
from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail

LEARN_TIMEOUT_SECONDS = 30.0


def learn(
    setting: Annotated[str, typer.Argument(
        help="The live option the knob sets: temperature, top_p, scale, silence_beats, ...")],
    value_range: Annotated[str | None, typer.Option(
        "--range", help="LOW..HIGH (0.5..1.5), or choices A|B|C ('C major|D dorian'). "
                        "\\[default: the knob's range in the map, else the setting's usual "
                        "one]", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for a knob to move.", min=0.1, max=600.0,
    )] = LEARN_TIMEOUT_SECONDS,
    config: Annotated[Path | None, typer.Option(
        "--config", help="The TOML file to write the mapping into (its control_socket is "
                         "used too). \\[default: the user config file]", dir_okay=False,
    )] = None,
    fixed_cc: Annotated[bool, typer.Option(
        "--fixed-cc", help="Take a controller whose meaning MIDI fixes too (volume 7, pan "
                           "10, expression 11, the pedals 65-69, bank select, ...): passed "
                           "over otherwise.")] = False,
    control_socket: SocketOption = None,
) -> None:
    """Map the next knob you turn to SETTING on the running daemon, and save it.

    The mapping works at once and is kept at reloads; it is written into the config file's
    cc_map (the file's other lines are kept), replacing a knob that set SETTING or that was
    on that CC. Where --cc-map or ANTIPHON_CC_MAP gave the daemon its map, that map wins
    over the file at the next start: this says so, with the map to give there."""
    from antiphon.daemon.config import paths
    from antiphon.daemon.config.cc_map import knob_setting, make_knob, parse_entry, with_knob
    from antiphon.daemon.config.daemon_config import ConfigError
    from antiphon.daemon.config.editing import write_option
    from antiphon.daemon.config.loading import read_toml

    path = socket_path(control_socket, config)
    request = {"command": "learn", "key": setting, "timeout": timeout}
    if value_range is not None:
        request["range"] = value_range
    if fixed_cc:
        request["fixed_cc"] = True
    try:  # what can be told here is told before anyone is asked to turn a knob
        if value_range is None:
            knob_setting(setting.strip().replace("-", "_").lower())
        else:
            make_knob(setting, 0, value_range, f"{setting} {value_range}", insisted=True)
    except ConfigError as err:
        fail(err.problem, USAGE_ERROR)
    ask_daemon(path, {"command": "status"})  # no daemon: said now
    console.print(f"turn the knob for {escape(setting)} (waiting {timeout:g} s)...")
    answer = ask_daemon(path, request, timeout=timeout)
    learned = answer["learned"]
    console.print(f"{escape(learned['setting'])} on CC {learned['cc']} "
                  f"({escape(learned['spec'])})")
    if answer["replaced"]:
        console.print(f"replaced: {escape(', '.join(answer['replaced']))}")
    daemon_file = answer.get("config_file")
    file = (config or (Path(daemon_file) if daemon_file else paths.config_file())).expanduser()
    try:
        current = read_toml(file).get("cc_map") if file.exists() else None
        knob = parse_entry(learned["entry"])
        cc_map, _ = with_knob(current, knob)
        write_option(file, "cc_map", cc_map)
    except (ConfigError, OSError) as err:
        fail(f"the knob works now, but was not saved: {err}")
    console.print(f"saved in {escape(str(file))}: cc_map = {escape(json.dumps(cc_map))}")
    for line in where_it_holds(file, daemon_file, answer.get("cc_map_from", ""),
                               answer["cc_map"]):
        console.print(escape(line), soft_wrap=True)


def where_it_holds(saved_in: Path, daemon_file: str | None, map_from: str,
                   live_map: str) -> list[str]:
    """Where a learnt knob takes effect and where it does not, for the user."""
    lines = ["works now, and at reloads of this daemon"]
    if map_from.startswith(("command line", "environment")):
        where = ("its --cc-map option" if map_from.startswith("command line")
                 else f"{map_from.partition(' ')[2]}")
        lines.append(f"not at the next start: the daemon's map comes from {where}, which "
                     f"wins over the file; to keep the knob there too, set it to "
                     f"{json.dumps(live_map)}")
    elif daemon_file and Path(daemon_file).expanduser().resolve() != saved_in.resolve():
        lines.append(f"not at the next start: the daemon reads {daemon_file}, not "
                     f"{saved_in}")
    else:
        lines.append("and at the next start (from the config file)")
    return lines


def knobs(
    send: Annotated[bool, typer.Option(
        "--send", help="Also send every mapped value out as its CC (on the answer channel), "
                       "so a controller's LEDs show them.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the knobs as JSON.")] = False,
    control_socket: SocketOption = None,
    config: ConfigFileOption = None,
) -> None:
    """The running daemon's knobs (its cc_map): each CC, its setting and its value now."""
    answer = ask_daemon(socket_path(control_socket, config), {"command": "knobs", "send": send})
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    if not answer["knobs"]:
        console.print("no knobs: map some with `antiphon learn SETTING` or the cc_map option")
        return
    table = Table(title="knobs (cc_map)", title_justify="left")
    for column in ("CC", "setting", "range", "value", "CC value"):
        table.add_column(column)
    for knob in answer["knobs"]:
        cc_value = "" if knob["cc_value"] is None else str(knob["cc_value"])
        table.add_row(str(knob["cc"]), escape(knob["setting"]), escape(knob["spec"]),
                      escape(repr(knob["value"])), cc_value)
    console.print(table)
    heard = answer.get("knob_channels") or []
    console.print(f"knobs listen on channel {', '.join(map(str, heard))} (knob_channel)")
    if send:
        channels = ", ".join(map(str, answer.get("feedback_channels") or heard[:1]))
        console.print(f"sent {answer['sent']} knob values on channel {channels} (where the "
                      "knobs are heard)")
