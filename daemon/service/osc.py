"""Open Sound Control for Max, Pd, TouchOSC and friends: off unless `--osc-port` asks for it,
bound to 127.0.0.1 unless `--osc-host` says otherwise (python-osc, UDP).

It speaks the control socket's commands (the same `Controller`, so the same checks):

    /antiphon/set <key> <value>     a live option: /antiphon/set temperature 0.8
    /antiphon/<key> <value>         the same, for a knob: /antiphon/temperature 0.8
    /antiphon/model <name>          swap the model
    /antiphon/panic                 release every note, all notes off
    /antiphon/reload                re-read the config
    /antiphon/status                the state, answered to the sender (as below)
    /antiphon/subscribe [port]      state messages from now on, to the sender (or to that
                                    port on the sender's host); /antiphon/unsubscribe [port]

Answers go to the sender, from the OSC port: `/antiphon/ok <command>` or
`/antiphon/error <command> <reason>`. State messages go to every subscriber when the state
changes: `/antiphon/mode <idle|listening|responding>`, `/antiphon/counters <phrases>
<answers> <barge-ins> <late answers>`, `/antiphon/model <name>`, `/antiphon/setting <key>
<value>` (None as the empty string: OSC has no null for every client).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer

from antiphon.daemon.service.config import LIVE_OPTIONS

log = logging.getLogger(__name__)

PREFIX = "/antiphon/"
STATE_SECONDS = 0.1  # how often state changes are looked for
MAX_SUBSCRIBERS = 16  # a typo'd loop in a patch must not make the daemon spray the network


class _Server(BlockingOSCUDPServer):
    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 (socketserver's)
        # A malformed packet is the sender's problem: one line, no traceback, go on.
        log.warning("OSC: could not handle a packet from %s:%s", *client_address[:2])


class OscControl:
    """The OSC server thread and the state sender thread."""

    def __init__(self, host: str, port: int) -> None:
        self.controller = None  # set before start(): the socket binds first, to fail early
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._on_message, needs_reply_address=True)
        try:
            self._server = _Server((host, port), dispatcher)
        except OSError as err:
            raise OSError(f"cannot listen for OSC on {host}:{port}: "
                          f"{err.strerror or err}") from err
        self.address = f"{host}:{self._server.server_address[1]}"
        self._subscribers: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_state: dict[str, Any] = {}
        self._threads = [
            threading.Thread(target=self._server.serve_forever, args=(0.25,),
                             name="antiphon-osc", daemon=True),
            threading.Thread(target=self._watch_state, name="antiphon-osc-state", daemon=True),
        ]

    def start(self, controller) -> None:  # noqa: ANN001 (a Controller; typed loosely)
        self.controller = controller
        controller.osc_address = self.address
        for thread in self._threads:
            thread.start()
        log.info("OSC: listening on %s", self.address)

    def close(self) -> None:
        self._stop.set()
        if self._threads[0].is_alive():
            self._server.shutdown()
        self._server.server_close()

    # -- messages in --------------------------------------------------------------------------
    def _on_message(self, sender: tuple[str, int], address: str, *args: Any) -> None:
        if not address.startswith(PREFIX):
            return  # another application's address: not for us
        command = address[len(PREFIX):]
        if command in ("subscribe", "unsubscribe"):
            port = int(args[0]) if args and isinstance(args[0], int) else sender[1]
            if not 1 <= port <= 65535:
                self._send(sender, "error", command, f"no UDP port {port}")
                return
            with self._lock:
                if command == "unsubscribe":
                    self._subscribers.discard((sender[0], port))
                elif len(self._subscribers) < MAX_SUBSCRIBERS:
                    self._subscribers.add((sender[0], port))
            self._last_state = {}  # a new subscriber gets the whole state
            self._send(sender, "ok", command)
            return
        request = self._request(command, args)
        if request is None:
            self._send(sender, "error", command, "unknown address or wrong arguments")
            return
        answer = self.controller.handle(request)
        if not answer["ok"]:
            self._send(sender, "error", command, answer["error"])
        elif command == "status":
            for name, *values in _state_messages(answer["status"]):
                self._send(sender, name, *values)
        else:
            self._send(sender, "ok", command)

    @staticmethod
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

    # -- messages out -------------------------------------------------------------------------
    def _watch_state(self) -> None:
        while not self._stop.wait(STATE_SECONDS):
            with self._lock:
                subscribers = list(self._subscribers)
            if not subscribers:
                continue
            try:
                state = self.controller.brief()
            except Exception:  # a status glitch must not end the state messages
                log.exception("OSC: could not read the state")
                continue
            changed = [message for message in _state_messages(state)
                       if self._last_state.get(_state_key(message)) != message]
            for message in changed:
                self._last_state[_state_key(message)] = message
                for subscriber in subscribers:
                    self._send(subscriber, *message)

    def _send(self, target: tuple[str, int], name: str, *values: Any) -> None:
        builder = OscMessageBuilder(PREFIX + name)
        for value in values:
            builder.add_arg("" if value is None else value)
        try:
            self._server.socket.sendto(builder.build().dgram, target)
        except (OSError, OverflowError) as err:  # a subscriber gone, or no such port
            log.debug("OSC: could not send to %s:%s: %s", *target, err)


def _value(argument: Any) -> Any:
    """An OSC argument as the controller takes it: text is parsed, numbers kept. OSC floats
    are 32-bit: 0.6 arrives as 0.6000000238...; seven digits are what it meant."""
    if isinstance(argument, float):
        return float(f"{argument:.7g}")
    if isinstance(argument, bool | int | str):
        return argument
    return str(argument)


def _state_key(message: tuple) -> tuple:
    """What a state message is about: its name, and for a setting, which one."""
    return message[:2] if message[0] == "setting" else message[:1]


def _state_messages(state: dict) -> list[tuple]:
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
