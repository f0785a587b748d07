"""The MIDI edge: the daemon's input and output (and its MIDI clock in and out, `--clock-in`,
`--clock-out`, kept as the input and output are) open whatever the MIDI system does.

`MidiEdge` is what both ways of keeping ports share: the keeper thread, which looks at the
MIDI system every `KEEP_SECONDS`, the judgement of the system itself, `failure`, and the
status. How the ports are kept is a subclass's, picked once by the backend
(edge_choice.choose_edge):

- on JACK (jack_edge.JackEdge), Antiphon's ports are its own and always there, and the
  keeper makes and checks their connections to the named ports (python-jack-client): a port
  that vanished and came back between two looks has lost its connection, and gets it back;
- elsewhere (named_edge.NamedEdge), a named port is opened when it appears and closed when
  it goes.

Either way a named port that is not there (the keyboard is not plugged in yet, a synth
restarted) is waited for, said once, and taken when it appears; one that vanishes is waited
for again. The MIDI system itself is judged by system_watch.py (a probe starved of CPU is
no proof of a dead system). When it is gone, every client is closed, one by one (libjack
crashes when a client opens while clients of a dead server live), an answer's notes are
owed to the output, and the server is asked for again; when it is back, everything
reopens; after `reconnect_timeout` seconds without it, `failure` says why and the daemon
exits non-zero so a service manager restarts it. Everything it does is logged, once per
change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import rtmidi

from antiphon.daemon.midi.edge_status import describe_edge
from antiphon.daemon.midi.edge_system import RtMidiSystem
from antiphon.daemon.midi.kept_ports import KeptInput, KeptOutput
from antiphon.daemon.midi.port_kinds import (
    CLOCK_IN,
    CLOCK_OUT,
    KINDS,
    NOTES_IN,
    NOTES_OUT,
    EdgeSide,
    PortKind,
)
from antiphon.daemon.midi.ports import default_input_port, match_port, own_ports, port_listing
from antiphon.daemon.midi.system_watch import SystemWatch

log = logging.getLogger(__name__)

KEEP_SECONDS = 0.1  # how often the keeper looks: a port back is reopened within this
CLOSE_TIMEOUT_SECONDS = 10.0  # how long a stop waits for the keeper to finish what it does


@dataclass(frozen=True)
class EdgeOptions:
    backend: str  # a concrete backend ("jack", "alsa", ...)
    in_port: str | None  # a name or part of one; None: a virtual port
    out_port: str | None
    reconnect_timeout: float = 30.0  # seconds without the MIDI system before giving up
    panic_on_start: bool = True  # silence the output as soon as it opens
    clock_out: str | None = None  # a port to send MIDI clock to (a name or part of one)
    clock_in: str | None = None  # a port to take MIDI clock from, beside the input


class MidiEdge:
    """Owns the rtmidi ports behind `input` and `output` (and `clock_input`,
    `clock_output` when asked for); see the module docstring. A subclass keeps the ports
    (`_keep`), says whether a side is connected, and adds what its way holds to what is
    reached, let go and left. `system` is replaceable for tests (edge_system.py)."""

    def __init__(self, options: EdgeOptions, system: RtMidiSystem | None = None) -> None:
        self.options = options
        self.system = system if system is not None else RtMidiSystem(options.backend)
        wanted = {NOTES_IN: options.in_port, CLOCK_IN: options.clock_in,
                  NOTES_OUT: options.out_port, CLOCK_OUT: options.clock_out}
        # The notes' ports are always there; the clock's only when asked for.
        # --panic-on-start silences the notes' output, never the clock's.
        self.sides = [EdgeSide.for_kind(kind, wanted[kind],
                                        panic_on_attach=options.panic_on_start
                                        and kind is NOTES_OUT)
                      for kind in KINDS if not kind.carries_clock or wanted[kind] is not None]
        kept = {side.kind: side.kept for side in self.sides}
        self.input: KeptInput = kept[NOTES_IN]
        self.output: KeptOutput = kept[NOTES_OUT]
        # MIDI clock out: kept as the output is (waited for, reconnected), never panicked.
        self.clock_output: KeptOutput | None = kept.get(CLOCK_OUT)
        # MIDI clock in: kept as the input is; its messages go where the input's go.
        self.clock_input: KeptInput | None = kept.get(CLOCK_IN)
        self.failure: str | None = None  # why the edge gave up (the daemon exits)
        self.watch = SystemWatch(options.backend, options.reconnect_timeout)
        self.reconnects = 0
        self._stop = threading.Event()
        self._said: dict[str, str] = {}  # what was last logged per topic (log once)
        self._thread = threading.Thread(target=self._run, name="antiphon-midi-keeper",
                                        daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Open what can be opened now; raises OSError when the MIDI system is not there.

        With no input named, the first hardware input is taken (and kept: it is waited for
        should it go), else a virtual port for a keyboard or a DAW to connect to."""
        self._reach_system()
        notes_in = self.side(NOTES_IN)
        ports = self.system.ports()
        if notes_in.wanted is None and ports is not None:
            sources = ports[0]
            index = default_input_port(sources, self.backend)
            if index is not None:
                notes_in.wanted = sources[index]
                log.info("no --in given: listening to the first hardware input, %r",
                         notes_in.wanted)
        self._keep_ports()

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # it may be closing a lost system's clients (~1 s each)
            self._thread.join(CLOSE_TIMEOUT_SECONDS)
        for side in self.sides:
            side.kept.close()
        self._leave_system()

    def describe(self) -> dict:
        """The ports and their state, for `antiphon status` (edge_status.py)."""
        return describe_edge(self)

    @property
    def backend(self) -> str:
        return self.options.backend

    @property
    def system_lost_since(self) -> float | None:
        return self.watch.lost_since

    def side(self, kind: PortKind) -> EdgeSide:
        return next(side for side in self.sides if side.kind is kind)

    def side_connected(self, side: EdgeSide) -> bool:
        """Whether a side that has a port open is connected to the port it is wanted on."""
        raise NotImplementedError

    # -- the keeper thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(KEEP_SECONDS):
            self.look()

    def look(self) -> None:
        """One look of the keeper (the thread's, every `KEEP_SECONDS`): at the system while
        it is there, for it while it is gone, then at the ports."""
        try:
            if self.watch.lost_since is None:
                self._watch_system()
            if self.watch.lost_since is not None:
                self._wait_for_system()
            else:
                self._keep_ports()
        except (OSError, rtmidi.RtMidiError) as err:
            self._say("keeper", logging.WARNING, f"MIDI system error: {err}")

    @property
    def stopped(self) -> bool:
        """Whether the keeper stopped (closed, or gave up: see `failure`)."""
        return self._stop.is_set()

    def _watch_system(self) -> None:
        port = self.input.port
        reader = port.reader if port is not None and port.probed else None
        if not self.watch.gone(reader, self._server_answers()):
            return
        # Closing a client of a dead JACK server blocks about a second in libjack's
        # timeouts: the keeper closes them one by one before it asks for the server again.
        _close_all(self._let_go())

    def _wait_for_system(self) -> None:
        lost_since = self.watch.lost_since
        back = self.watch.back()
        if back:
            gone = time.perf_counter() - lost_since
            # Said once while it answers yet cannot be reached (tried every half check).
            if "back" not in self._said:
                self._said["back"] = "said"
                log.warning("the %s MIDI system is back after %.1f s: reopening the ports",
                            self.backend, gone)
            try:
                self._reach_system()
            except OSError as err:  # it answered, yet cannot be reached: still gone
                self.watch.relapse(lost_since)
                self._say("reach", logging.WARNING, f"MIDI system error: {err}")
                return
            self._said.clear()
            self.reconnects += 1
            self._keep_ports()
        elif back is None:
            self.failure = (f"the {self.backend} MIDI system has been gone for "
                            f"{self.options.reconnect_timeout:g} s (--reconnect-timeout)")
            self._stop.set()

    # -- what a way of keeping ports adds ----------------------------------------------------
    def _reach_system(self) -> None:
        """Open the clients that ask the system about its ports; raises OSError."""
        self.system.reach()

    def _server_answers(self) -> Callable[[], bool] | None:
        """A request the server answers while it is there (system_watch.py), or None."""
        return None

    def _let_go(self) -> list:
        """The system is gone: forget every port and client of it, and return them for the
        caller to close (an answer's notes are owed to the output meanwhile)."""
        return [side.kept.detach() for side in self.sides] + self.system.let_go()

    def _leave_system(self) -> None:
        self.system.leave()

    def _keep_ports(self) -> None:
        ports = self.system.ports()
        if ports is not None:
            self._keep(*ports)

    def _keep(self, sources: list[str], destinations: list[str]) -> None:
        """Keep every side's port, given what the system lists now."""
        raise NotImplementedError

    # -- shared by both ways ---------------------------------------------------------------
    def _find(self, ports: list[str], wanted: str | None) -> str | None:
        """The port `wanted` names among `ports` (never one of Antiphon's), or None."""
        index = None if wanted is None else match_port(ports, wanted, own_ports(ports))
        return None if index is None else ports[index]

    def _say_went_away(self, side: EdgeSide, port: str) -> None:
        label = side.kind.label
        self._say(label, logging.WARNING, f"{label} port {port!r} went away: "
                  "waiting for it to come back")

    def _say_waiting(self, side: EdgeSide, ports: list[str]) -> None:
        label = side.kind.label
        self._say(label, logging.WARNING, f"waiting for {label} port {side.wanted!r} "
                  f"(there are: {port_listing(ports)})")

    def _say_taken(self, side: EdgeSide, other: str, own: str | None) -> None:
        self._say(side.kind.label, logging.INFO, f"{side.kind.doing} {other!r} through {own!r}")

    def _say(self, topic: str, level: int, text: str) -> None:
        """Log `text` unless it is what was last said on `topic`."""
        if self._said.get(topic) != text:
            self._said[topic] = text
            log.log(level, text)


def _close_all(dead: list) -> None:
    for thing in dead:
        if thing is None:
            continue
        try:
            thing.close()
        except (OSError, rtmidi.RtMidiError) as err:
            log.debug("closing a port of the lost MIDI system: %s", err)
