"""Antiphon's OSC messages, in and out, apart from the socket and threads that carry them
(osc): a message under /antiphon/ as the Controller request it asks for, `subscribe`'s port,
a status as state messages, and an answer as the datagram that is sent. The addresses and
answers are listed in osc's module text.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import BuildError, OscMessageBuilder

from antiphon.daemon.config.daemon_config import LIVE_OPTIONS
from antiphon.daemon.control.osc_limits import Work, kind_of
from antiphon.daemon.control.osc_packets import clip

log = logging.getLogger("antiphon.daemon.control.osc")

PREFIX = "/antiphon/"
MAX_DATAGRAM = 65507  # the most a UDP datagram carries over IPv4
MAX_ECHO_CHARS = 1000  # of the request, in an error answer: the answer must fit a datagram


def datagram_of(name: str, *values: Any) -> bytes | None:
    """/antiphon/<name> with its values as a datagram; None (and a warning) for one that
    cannot be built or would not fit a UDP datagram."""
    if name == "error":  # it may echo the request: it must still fit a datagram
        values = tuple(clip(str(value), MAX_ECHO_CHARS) for value in values)
    builder = OscMessageBuilder(PREFIX + name)
    for value in values:
        builder.add_arg("" if value is None else value)
    try:
        datagram = builder.build().dgram
    except BuildError as err:
        log.warning("OSC: could not build %s%s: %s", PREFIX, name, err)
        return None
    if len(datagram) > MAX_DATAGRAM:
        log.warning("OSC: %s%s %s is %d bytes, more than a UDP datagram carries: not sent",
                    PREFIX, name, clip(str(values[0]), 40) if values else "",
                    len(datagram))
        return None
    return datagram


def subscriber_port(sender: tuple[str, int], args: tuple) -> int:
    """The port `/antiphon/subscribe` or `unsubscribe` names, or the sender's own; a
    ValueError that says why for arguments that name none."""
    if not args:
        return sender[1]
    if len(args) > 1:
        raise ValueError(f"one argument at most, a UDP port; got {len(args)}")
    port = args[0]
    if isinstance(port, bool) or not isinstance(port, int):  # True is an int in Python
        raise ValueError(f"the port must be an integer (OSC type i), got {port!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"no UDP port {port}")
    return port


def _value(argument: Any) -> Any:
    """An OSC argument as the controller takes it: text is parsed, numbers kept. OSC floats
    are 32-bit: 0.6 arrives as 0.6000000238...; seven digits are what it meant."""
    if isinstance(argument, float):
        return float(f"{argument:.7g}")
    if isinstance(argument, bool | int | str):
        return argument
    return str(argument)


def state_key(message: tuple) -> tuple:
    """What a state message is about: its name, and for a setting, which one."""
    return message[:2] if message[0] == "setting" else message[:1]


def state_messages(state: dict) -> list[tuple]:
    """(name, *values) per state message, from a status (or brief) dict."""
    counters = state["counters"]
    messages: list[tuple] = [
        ("mode", state["mode"]),
        ("counters", counters["phrases"], counters["answers"], counters["barge_ins"],
         counters["late_answers"]),
        ("model", state["model"]["name"]),
    ]
    for key, value in state["settings"].items():
        messages.append(("setting", key, value))
    return messages


def _request(command: str, args: tuple) -> dict | None:
    if command in ("status", "panic", "reload") and not args:
        return {"command": command}
    if command == "model" and len(args) == 1:
        return {"command": "model", "name": str(args[0])}
    if command == "set" and len(args) == 2:
        return {"command": "set", "key": str(args[0]), "value": _value(args[1])}
    if command.replace("-", "_") in LIVE_OPTIONS and len(args) == 1:
        return {"command": "set", "key": command, "value": _value(args[0])}
    return None


def work_of(sender: tuple[str, int], message: OscMessage) -> Work:
    command = message.address[len(PREFIX):]
    args = tuple(message.params)
    request = None if command in ("subscribe", "unsubscribe") else _request(command, args)
    return Work(sender, command, args, request, kind_of(request))
