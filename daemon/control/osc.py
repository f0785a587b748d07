"""Open Sound Control for Max, Pd, TouchOSC and friends: off unless `--osc-port` asks for it,
bound to 127.0.0.1 unless `--osc-host` says otherwise (python-osc, UDP).

It speaks the control socket's commands (the same `Controller`, so the same checks;
osc_messages turns each message into its request, and each answer into a datagram):

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

UDP names no user: whoever can reach the port steers (docs/SERVICE.md), and a bind beyond
this machine is warned about at start. So what one sender can cost is bounded (osc_limits):
one thread reads packets, at a rate, and hands at most a packet's cap of requests to a short
queue; another carries them out through the Controller, so a model load never holds up the
reading, and a flood never reaches the interaction loop or the MIDI threads.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from typing import Any

from antiphon.daemon.control.osc_limits import (
    ELEMENTS_PER_TOKEN,
    MESSAGE_BURST,
    MESSAGES_PER_PACKET,
    MESSAGES_PER_SECOND,
    FloodLog,
    OscStats,
    TokenBucket,
    Work,
    WorkQueue,
    describe_kind,
)
from antiphon.daemon.control.osc_messages import (
    PREFIX,
    datagram_of,
    state_key,
    state_messages,
    subscriber_port,
    work_of,
)
from antiphon.daemon.control.osc_packets import MAX_ELEMENTS, Unreadable, clip, read_packet

log = logging.getLogger(__name__)

STATE_SECONDS = 0.1  # how often state changes are looked for
MAX_SUBSCRIBERS = 16  # a typo'd loop in a patch must not make the daemon spray the network
STOP_SECONDS = 5.0  # how long close() waits for the thread carrying out a request
READ_POLL_SECONDS = 0.25  # how soon the reading thread sees close()
MAX_PACKET = 65535  # a UDP datagram's most, read whole


def _listen(host: str, port: int) -> socket.socket:
    """A UDP socket bound to (host, port), IPv6 where the host is."""
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.settimeout(READ_POLL_SECONDS)  # so the reading thread sees close() soon
    return sock


def _family(host: str) -> int:
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][0]
    except (socket.gaierror, UnicodeError):
        return socket.AF_INET  # binding then fails, with the reason


class OscControl:
    """The OSC reading thread, the thread that carries requests out, the state sender."""

    def __init__(self, host: str, port: int) -> None:
        self.controller = None  # set before start(): the socket binds first, to fail early
        self.stats = OscStats()  # written by the reading thread (carried_out: the worker)
        self._bucket = TokenBucket(MESSAGES_PER_SECOND, MESSAGE_BURST)
        self._queue = WorkQueue()
        self._shed_log = FloodLog("OSC flood: shed {new} messages in the last {seconds:.1f} s "
                                  "({total} in all); steering goes on")
        self._refused_log = FloodLog(f"OSC: refused {{new}} messages past the first "
                                     f"{MESSAGES_PER_PACKET} of their packet in the last "
                                     "{seconds:.1f} s ({total} in all)")
        self._ignored_log = FloodLog("OSC: ignored a packet from {sender}: {reason} "
                                     "({total} ignored so far)")
        try:
            self._socket = _listen(host, port)
        except (OSError, OverflowError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err
            raise OSError(f"cannot listen for OSC on {host}:{port}: {reason}") from err
        bound, bound_port = self._socket.getsockname()[:2]
        self.address = f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"
        self._bound = bound
        self._subscribers: set[tuple[str, int]] = set()
        self._newcomers: set[tuple[str, int]] = set()  # they get the whole state, once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_state: dict[tuple, tuple] = {}  # touched by the state thread only
        self._last_state_error = ""
        self._threads = [
            threading.Thread(target=self._read_packets, name="antiphon-osc", daemon=True),
            threading.Thread(target=self._carry_out_queued, name="antiphon-osc-work",
                             daemon=True),
            threading.Thread(target=self._watch_state, name="antiphon-osc-state", daemon=True),
        ]

    def start(self, controller) -> None:  # noqa: ANN001 (a Controller; typed loosely)
        self.controller = controller
        for thread in self._threads:
            thread.start()
        log.info("OSC: listening on %s", self.address)
        reach = _reach(self._bound)
        if reach is not None:
            log.warning("OSC listens on %s, %s: anyone who can reach that port can change "
                        "the settings, swap the model and panic (OSC has no login or user to "
                        "check); listen on 127.0.0.1 unless every machine there is trusted",
                        self.address, reach)

    def close(self) -> None:
        self._stop.set()
        self._queue.close()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(STOP_SECONDS)  # a model load being carried out finishes first
        self._socket.close()

    # -- packets in (the reading thread) -----------------------------------------------------
    def _read_packets(self) -> None:
        """Read each datagram whole into one buffer; one shed over the rate costs no more."""
        buffer = bytearray(MAX_PACKET)
        view = memoryview(buffer)
        while not self._stop.is_set():
            try:
                size, sender = self._socket.recvfrom_into(buffer)
            except TimeoutError:
                continue
            except OSError as err:  # the socket closed under it, or an error a sender caused
                if self._stop.is_set():
                    return
                log.debug("OSC: reading a packet failed: %s", err)
                continue
            if not self._admit(sender):
                continue
            try:
                self._on_packet(bytes(view[:size]), sender)
            except Exception as error:  # one packet: one line with the reason, and go on
                log.warning("OSC: could not handle a packet from %s:%s: %s: %s", *sender[:2],
                            type(error).__name__, error)

    def _admit(self, sender: tuple[str, int]) -> bool:
        """Whether a packet is read at all: not while the rate is spent."""
        if self._bucket.has_token():
            return True
        self.stats.shed += 1
        self._shed_log.add(1)
        return False

    def _on_packet(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            packet = read_packet(data, MESSAGES_PER_PACKET)
        except Unreadable as unreadable:
            # Tokens like any message (one was there: _admit): a flood of junk, each
            # answered with an error, is held to the rate too.
            self._bucket.charge(max(1.0, unreadable.elements / ELEMENTS_PER_TOKEN))
            self._on_unreadable(sender, unreadable.address, unreadable.reason)
            return
        kept, count = packet.messages, packet.count
        stats = self.stats
        stats.messages += count
        carried = kept[:self._bucket.take(len(kept))]
        # The rest of the walk (bundles, messages past the cap; an empty bundle's read).
        self._bucket.charge(max(0.0 if kept else 1.0,
                                (packet.elements - len(kept)) / ELEMENTS_PER_TOKEN))
        shed = len(kept) - len(carried)
        works = [work_of(sender, message) for message in carried
                 if message.address.startswith(PREFIX)]  # else another application's
        superseded, full = self._queue.put(works)
        for work in superseded:
            self._send(work.sender, "error", work.command,
                       f"superseded by a later {describe_kind(work.replaces)} before it was "
                       "carried out")
        stats.superseded += len(superseded)
        stats.shed += shed + len(full)
        self._shed_log.add(shed + len(full))
        refused = count - len(kept)
        if refused or not packet.whole:
            stats.refused += refused
            self._refused_log.add(refused)
            of = count if packet.whole else f"first {count} (read no further: {MAX_ELEMENTS})"
            self._send(sender, "error", "bundle", f"one packet carries out at most "
                       f"{MESSAGES_PER_PACKET} messages: {refused} of its {of} refused")

    def _on_unreadable(self, sender: tuple[str, int], address: str | None, reason: str) -> None:
        if address is None:  # a flood of junk: a line a second
            self._ignored_log.add(1, sender=f"{sender[0]}:{sender[1]}", reason=reason)
        elif address.startswith(PREFIX):
            self._send(sender, "error", address[len(PREFIX):], reason)
        # else: another application's message, not for us to judge

    # -- requests carried out (the worker thread) --------------------------------------------
    def _carry_out_queued(self) -> None:
        while not self._stop.is_set():
            work = self._queue.take(0.25)
            if work is None:
                continue
            try:
                self._carry_out(work)
            except Exception as err:  # one request must not end OSC: its reason, and go on
                log.warning("OSC: could not carry out %s%s from %s:%s: %s: %s", PREFIX,
                            clip(work.command, 40), *work.sender[:2], type(err).__name__, err)
            self.stats.carried_out += 1

    def _carry_out(self, work: Work) -> None:
        sender, command = work.sender, work.command
        if command in ("subscribe", "unsubscribe"):
            self._subscription(sender, command, work.args)
            return
        if work.request is None:
            self._send(sender, "error", command, "unknown address or wrong arguments")
            return
        answer = self.controller.handle(work.request)
        if not answer["ok"]:
            self._send(sender, "error", command, answer["error"])
        elif command == "status":
            for name, *values in state_messages(answer["status"]):
                self._send(sender, name, *values)
        else:
            self._send(sender, "ok", command)

    def _subscription(self, sender: tuple[str, int], command: str, args: tuple) -> None:
        try:
            subscriber = (sender[0], subscriber_port(sender, args))
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
        messages = state_messages(self.controller.brief())
        with self._lock:  # after reading the state: a newcomer then misses nothing
            subscribers = list(self._subscribers)
            newcomers, self._newcomers = self._newcomers, set()
        changed = [message for message in messages
                   if self._last_state.get(state_key(message)) != message]
        for message in changed:
            self._last_state[state_key(message)] = message
        for subscriber in subscribers:
            for message in messages if subscriber in newcomers else changed:
                self._send(subscriber, *message)

    def _send(self, target: tuple[str, int], name: str, *values: Any) -> None:
        datagram = datagram_of(name, *values)
        if datagram is None:
            return
        try:
            self._socket.sendto(datagram, target)
        except (OSError, OverflowError) as err:  # a subscriber gone, or no such port
            log.debug("OSC: could not send to %s:%s: %s", *target[:2], err)


def _reach(host: str) -> str | None:
    """Who beyond this machine can reach an address OSC listens on, in words; None for a
    loopback address (this machine only)."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return "an address of the network"
    if address.is_loopback:
        return None
    if address.is_unspecified:
        return "every network interface of this machine"
    return f"the network of {address}"
