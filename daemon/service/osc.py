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

A request may be as large as a UDP datagram carries. A message Antiphon cannot read whole (a
type tag python-osc does not know, arguments cut short, a port that is no integer) is answered
with an error and not carried out, not even in part; a packet with no message to answer for
is one warning line. At most MAX_SUBSCRIBERS subscribe; one more is answered with an error.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from pythonosc.dispatcher import Dispatcher, Handler
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message import ParseError as MessageParseError
from pythonosc.osc_message_builder import BuildError, OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing import osc_types

from antiphon.daemon.service.config import LIVE_OPTIONS

log = logging.getLogger(__name__)

PREFIX = "/antiphon/"
STATE_SECONDS = 0.1  # how often state changes are looked for
MAX_SUBSCRIBERS = 16  # a typo'd loop in a patch must not make the daemon spray the network
MAX_DATAGRAM = 65507  # the most a UDP datagram carries over IPv4
MAX_ECHO_CHARS = 1000  # of the request, in an error answer: the answer must fit a datagram
IGNORED_LOG_SECONDS = 1.0  # junk packets are logged at most this often
MAX_BUNDLE_DEPTH = 8  # bundles in bundles: python-osc reads them by recursion
# The argument types python-osc reads. It skips any other tag (with a warning on the root
# logger) and hands the message on as if that argument were not there.
READABLE_TYPES = frozenset("ihfdsbrmtTFN[]")
_BUNDLE_HEAD = len(b"#bundle\x00") + 8  # and the time tag


class _Server(BlockingOSCUDPServer):
    # socketserver reads 8192 bytes of a datagram and drops the rest: read all there can be.
    max_packet_size = 65535

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 (socketserver's)
        # Whatever went wrong with one packet: one line with the reason, no traceback, go on.
        error = sys.exc_info()[1]
        log.warning("OSC: could not handle a packet from %s:%s: %s: %s", *client_address[:2],
                    type(error).__name__, error)


class _Unreadable(ValueError):
    """A packet python-osc would misread, drop or never finish reading. `address` is that of
    the message at fault, None where there is no message to answer for."""

    def __init__(self, address: str | None, reason: str) -> None:
        super().__init__(reason)
        self.address = address
        self.reason = reason


class _CheckingDispatcher(Dispatcher):
    """python-osc's dispatcher, behind a check of the whole packet: a packet with anything
    python-osc cannot read as it was sent is refused whole, before any of it is carried out
    (a bundle is all or nothing). Every message it reads goes to `on_message`."""

    def __init__(self, on_message, on_unreadable) -> None:  # noqa: ANN001 (OscControl's)
        # A bundle's time tag is not waited for: one thread serves every sender, and a bundle
        # timed a day ahead would hold up everyone else until then.
        super().__init__(strict_timing=False)
        self._handler = Handler(on_message, [], _needs_reply_address=True)
        self._on_unreadable = on_unreadable

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list:
        try:
            _check_packet(data)
        except _Unreadable as unreadable:
            self._on_unreadable(client_address, unreadable.address, unreadable.reason)
            return []
        return super().call_handlers_for_packet(data, client_address)

    def handlers_for_address(self, address_pattern: str) -> Iterator[Handler]:
        # The one handler reads the address itself. python-osc would first compile the address
        # into a regular expression to match mapped addresses, and there are none: seconds for
        # an address of 60,000 '*', and a FutureWarning on stderr for one with '[['.
        yield self._handler


class OscControl:
    """The OSC server thread and the state sender thread."""

    def __init__(self, host: str, port: int) -> None:
        self.controller = None  # set before start(): the socket binds first, to fail early
        dispatcher = _CheckingDispatcher(self._on_message, self._on_unreadable)
        try:
            self._server = _Server((host, port), dispatcher)
        except OSError as err:
            raise OSError(f"cannot listen for OSC on {host}:{port}: "
                          f"{err.strerror or err}") from err
        self.address = f"{host}:{self._server.server_address[1]}"
        self._subscribers: set[tuple[str, int]] = set()
        self._newcomers: set[tuple[str, int]] = set()  # they get the whole state, once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_state: dict[tuple, tuple] = {}  # touched by the state thread only
        self._last_state_error = ""
        self._ignored = 0  # packets with no message to answer for
        self._ignored_logged_at = -IGNORED_LOG_SECONDS
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
            self._subscription(sender, command, args)
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

    def _subscription(self, sender: tuple[str, int], command: str, args: tuple) -> None:
        try:
            subscriber = (sender[0], _subscriber_port(sender, args))
        except ValueError as err:
            self._send(sender, "error", command, str(err))
            return
        full = False
        with self._lock:
            if command == "unsubscribe":
                self._subscribers.discard(subscriber)
                self._newcomers.discard(subscriber)
            elif subscriber in self._subscribers or len(self._subscribers) < MAX_SUBSCRIBERS:
                # One who subscribes again keeps its one place, and gets the whole state again.
                self._subscribers.add(subscriber)
                self._newcomers.add(subscriber)
            else:
                full = True
        if full:
            self._send(sender, "error", command, f"already {MAX_SUBSCRIBERS} subscribers, the "
                       "most OSC serves: one must unsubscribe first")
        else:
            self._send(sender, "ok", command)

    def _on_unreadable(self, sender: tuple[str, int], address: str | None, reason: str) -> None:
        if address is None:
            self._ignored += 1
            now = time.monotonic()
            if now - self._ignored_logged_at >= IGNORED_LOG_SECONDS:  # a flood: a line a second
                log.warning("OSC: ignored a packet from %s:%s: %s (%d ignored so far)",
                            *sender[:2], reason, self._ignored)
                self._ignored_logged_at = now
        elif address.startswith(PREFIX):
            self._send(sender, "error", address[len(PREFIX):], reason)
        # else: another application's message, not for us to judge

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
            if not self._subscribers:
                continue
            try:
                self._send_state()
            except Exception as err:  # one bad poll must not end the state messages
                reason = f"{type(err).__name__}: {err}"
                if reason != self._last_state_error:  # every 0.1 s: said once, not each time
                    log.warning("OSC: could not send the state: %s", reason)
                self._last_state_error = reason
            else:
                self._last_state_error = ""

    def _send_state(self) -> None:
        """What changed to every subscriber, the whole state to those new since last time."""
        messages = _state_messages(self.controller.brief())
        with self._lock:  # after reading the state: a newcomer then misses nothing
            subscribers = list(self._subscribers)
            newcomers, self._newcomers = self._newcomers, set()
        changed = [message for message in messages
                   if self._last_state.get(_state_key(message)) != message]
        for message in changed:
            self._last_state[_state_key(message)] = message
        for subscriber in subscribers:
            for message in messages if subscriber in newcomers else changed:
                self._send(subscriber, *message)

    def _send(self, target: tuple[str, int], name: str, *values: Any) -> None:
        if name == "error":  # it may echo the request: it must still fit a datagram
            values = tuple(_clip(str(value)) for value in values)
        builder = OscMessageBuilder(PREFIX + name)
        for value in values:
            builder.add_arg("" if value is None else value)
        try:
            datagram = builder.build().dgram
        except BuildError as err:
            log.warning("OSC: could not build %s%s: %s", PREFIX, name, err)
            return
        if len(datagram) > MAX_DATAGRAM:
            log.warning("OSC: %s%s %s is %d bytes, more than a UDP datagram carries: not sent",
                        PREFIX, name, _clip(str(values[0]), 40) if values else "",
                        len(datagram))
            return
        try:
            self._server.socket.sendto(datagram, target)
        except (OSError, OverflowError) as err:  # a subscriber gone, or no such port
            log.debug("OSC: could not send to %s:%s: %s", *target[:2], err)


def _subscriber_port(sender: tuple[str, int], args: tuple) -> int:
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


def _check_packet(datagram: bytes, depth: int = 0) -> None:
    """Raise _Unreadable for a packet (a message or a bundle) python-osc cannot read whole and
    as it was sent: an unknown type tag, arguments missing or not what their tags say, text
    that is not UTF-8, a bundle element python-osc would drop or loop on for ever (a negative
    size), bundles nested deeper than MAX_BUNDLE_DEPTH."""
    if OscBundle.dgram_is_bundle(datagram):
        _check_bundle(datagram, depth)
    elif OscMessage.dgram_is_message(datagram):
        _check_message(datagram)
    else:
        raise _Unreadable(None, "a bundle element that is neither a message nor a bundle")


def _check_bundle(datagram: bytes, depth: int) -> None:
    if depth >= MAX_BUNDLE_DEPTH:
        raise _Unreadable(None, f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
    if len(datagram) < _BUNDLE_HEAD:
        raise _Unreadable(None, "a bundle without its time tag")
    index = _BUNDLE_HEAD
    while index < len(datagram):
        try:
            size, index = osc_types.get_int(datagram, index)
        except osc_types.ParseError:
            raise _Unreadable(None, "a bundle element without its size") from None
        if not 0 < size <= len(datagram) - index:
            raise _Unreadable(None, f"a bundle element of {size} bytes, where "
                              f"{len(datagram) - index} remain")
        _check_packet(datagram[index:index + size], depth + 1)
        index += size


def _check_message(datagram: bytes) -> None:
    try:
        address, index = osc_types.get_string(datagram, 0)
    except (osc_types.ParseError, UnicodeDecodeError):
        raise _Unreadable(None, "a message without a readable address") from None
    if index < len(datagram):  # there are type tags (no tags: no arguments, which is fine)
        try:
            tags, _ = osc_types.get_string(datagram, index)
        except (osc_types.ParseError, UnicodeDecodeError):
            raise _Unreadable(address, "unreadable OSC type tags") from None
        if not tags.startswith(","):
            raise _Unreadable(address, f"OSC type tags start with ',', got {_clip(tags, 40)!r}")
        unknown = sorted(set(tags[1:]) - READABLE_TYPES)
        if unknown:
            raise _Unreadable(address, f"unknown OSC type tag {unknown[0]!r} "
                              f"(known: {' '.join(sorted(READABLE_TYPES))})")
    try:
        OscMessage(datagram)
    except (MessageParseError, UnicodeDecodeError):
        raise _Unreadable(address, "the arguments are not what their OSC type tags say "
                          "(missing, cut short or not UTF-8)") from None


def _clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


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
