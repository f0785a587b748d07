"""The MIDI edge: the daemon's input and output (and its MIDI clock out, `--clock-out`, kept
as the output is) open whatever the MIDI system does.

A keeper thread looks at the MIDI system every `KEEP_SECONDS`:

- a named port that is not there (the keyboard is not plugged in yet, a synth restarted) is
  waited for, said once, and connected when it appears; one that vanishes is waited for
  again. On JACK, Antiphon's ports are its own and always there, and the keeper makes and
  checks their connections (python-jack-client): a port that vanished and came back between
  two looks has lost its connection, and gets it back. Elsewhere, a named port is opened
  when it appears and closed when it goes;
- the MIDI system itself, judged by system_watch.py (a probe starved of CPU is no proof of
  a dead system). When it is gone, every client is closed, one by one (libjack crashes
  when a client opens while clients of a dead server live), an answer's notes are owed to
  the output, and the server is asked for again; when it is back, everything reopens, and
  on JACK the connections other programs had made to Antiphon's ports are made again
  (jack_links.LinkMemory); after `reconnect_timeout` seconds without it, `failure` says
  why and the daemon exits non-zero so a service manager restarts it. Everything it does
  is logged, once per change.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import rtmidi

from antiphon.daemon.midi.backends import api_of
from antiphon.daemon.midi.kept_ports import KeptInput, KeptOutput
from antiphon.daemon.midi.ports import (
    CLIENT_NAME,
    VIRTUAL_IN_NAME,
    VIRTUAL_OUT_NAME,
    RtMidiInput,
    RtMidiOutput,
    default_input_port,
    match_port,
    own_ports,
    port_listing,
)
from antiphon.daemon.midi.system_watch import SystemWatch

log = logging.getLogger(__name__)

KEEP_SECONDS = 0.1  # how often the keeper looks: a port back is reopened within this
CLOSE_TIMEOUT_SECONDS = 10.0  # how long a stop waits for the keeper to finish what it does
VIRTUAL_CLOCK_OUT_NAME = "Antiphon Clock"  # the client of the MIDI clock out (--clock-out)
CLOCK_OUT_PORT_NAME = "clock"
VIRTUAL_CLOCK_IN_NAME = "Antiphon Clock In"  # the client of the MIDI clock in (--clock-in)


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
    """Owns the rtmidi ports behind `input` and `output`; see the module docstring."""

    def __init__(self, options: EdgeOptions) -> None:
        self.options = options
        self.input = KeptInput(options.in_port or VIRTUAL_IN_NAME)
        self.output = KeptOutput(options.out_port or VIRTUAL_OUT_NAME)
        self.output.panic_on_attach = options.panic_on_start
        # MIDI clock out: kept as the output is (waited for, reconnected), never panicked.
        self.clock_output = KeptOutput(options.clock_out) if options.clock_out else None
        # MIDI clock in: kept as the input is; its messages go where the input's go.
        self.clock_input = KeptInput(options.clock_in) if options.clock_in else None
        self._wanted_in = options.in_port
        self.failure: str | None = None  # why the edge gave up (the daemon exits)
        self.watch = SystemWatch(options.backend, options.reconnect_timeout)
        self.reconnects = 0
        self._stop = threading.Event()
        self._listers: tuple[rtmidi.MidiIn, rtmidi.MidiOut] | None = None
        self._links = None  # JackLinks, where python-jack-client loads (JACK only)
        self._memory = None  # jack_links.LinkMemory, with the links
        self._connected: dict[str, str | None] = {"input": None, "output": None,
                                                  "clock out": None, "clock in": None}
        # JACK: an output of ours that is open while the port it is for is away, by kind
        self._parked: dict[str, RtMidiOutput | None] = {"output": None, "clock out": None}
        self._said: dict[str, str] = {}  # what was last logged per topic (log once)
        self._thread = threading.Thread(target=self._run, name="antiphon-midi-keeper",
                                        daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Open what can be opened now; raises OSError when the MIDI system is not there.

        With no input named, the first hardware input is taken (and kept: it is waited for
        should it go), else a virtual port for a keyboard or a DAW to connect to."""
        self._open_listers()
        if self._wanted_in is None and self._listers is not None:
            sources = self._listers[0].get_ports()
            index = default_input_port(sources, self.options.backend)
            if index is not None:
                self._wanted_in = sources[index]
                log.info("no --in given: listening to the first hardware input, %r",
                         self._wanted_in)
        self._keep_ports()

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # it may be closing a lost system's clients (~1 s each)
            self._thread.join(CLOSE_TIMEOUT_SECONDS)
        self.input.close()
        self.output.close()
        for extra in (self.clock_output, self.clock_input):
            if extra is not None:
                extra.close()
        for parked in self._parked.values():
            if parked is not None:
                parked.close()
        self._close_listers()

    def describe(self) -> dict:
        """The ports and their state, for `antiphon status` (edge_status.py)."""
        from antiphon.daemon.midi.edge_status import describe_edge

        return describe_edge(self)

    @property
    def system_lost_since(self) -> float | None:
        return self.watch.lost_since

    # -- the keeper thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(KEEP_SECONDS):
            try:
                if self.watch.lost_since is None:
                    self._watch_system()
                if self.watch.lost_since is not None:
                    self._wait_for_system()
                else:
                    self._keep_ports()
            except (OSError, rtmidi.RtMidiError) as err:
                self._say("keeper", logging.WARNING, f"MIDI system error: {err}")

    def _watch_system(self) -> None:
        port = self.input.port
        reader = port.reader if port is not None and port.probed else None
        if not self.watch.gone(reader, self._links.answers if self._links else None):
            return
        if self._memory is not None:
            self._memory.lost()
        # Closing a client of a dead JACK server blocks about a second in libjack's
        # timeouts: the keeper closes them one by one before it asks for the server again.
        dead = [self.input.detach(), self.output.detach(),
                *(extra.detach() for extra in (self.clock_output, self.clock_input) if extra),
                *self._parked.values(), *(self._listers or ()), self._links]
        self._listers = self._links = None
        self._parked = dict.fromkeys(self._parked)
        self._connected = dict.fromkeys(self._connected)
        _close_all(dead)

    def _wait_for_system(self) -> None:
        lost_since = self.watch.lost_since
        back = self.watch.back()
        if back:
            gone = time.perf_counter() - lost_since
            self.reconnects += 1
            self._said.clear()
            log.warning("the %s MIDI system is back after %.1f s: reopening the ports",
                        self.options.backend, gone)
            self._open_listers()
            self._keep_ports()
        elif back is None:
            self.failure = (f"the {self.options.backend} MIDI system has been gone for "
                            f"{self.options.reconnect_timeout:g} s (--reconnect-timeout)")
            self._stop.set()

    # -- ports ------------------------------------------------------------------------------
    def _keep_ports(self) -> None:
        if self._listers is None:
            return
        sources, destinations = (lister.get_ports() for lister in self._listers)
        if self._links is not None:
            self._keep_linked_input("input", self.input, self._wanted_in, sources)
            if self.clock_input is not None:
                self._keep_linked_input("clock in", self.clock_input, self.options.clock_in,
                                        sources)
            self._keep_linked_output("output", self.output, self.options.out_port,
                                     destinations, "answering on")
            if self.clock_output is not None:
                self._keep_linked_output("clock out", self.clock_output,
                                         self.options.clock_out, destinations,
                                         "sending MIDI clock to")
            ports = {"input": self.input.port, "output": self.output.port or self._parked[
                "output"], "clock in": self.clock_input and self.clock_input.port,
                "clock out": self.clock_output and (self.clock_output.port
                                                    or self._parked["clock out"])}
            own = {role: port.own_name for role, port in ports.items() if port is not None}
            self._memory.restore(self._links, own, sources, destinations)
            self._memory.look(self._links, own)
        else:
            self._keep_input(sources)
            if self.clock_input is not None:
                self._keep_opened("clock in", self.clock_input, self.options.clock_in,
                                  sources, "taking MIDI clock from", self._open_clock_in)
            self._keep_output(destinations)
            if self.clock_output is not None:
                self._keep_opened("clock out", self.clock_output, self.options.clock_out,
                                  destinations, "sending MIDI clock to", self._open_clock_port)

    def _keep_linked_input(self, kind: str, kept: KeptInput, wanted: str | None,
                           sources: list[str]) -> None:
        """JACK: Antiphon's own input (the notes', or the clock's), always open, connected
        to the wanted keyboard or DAW."""
        if kept.port is None:
            kept.attach(self._open_clock_in() if kind == "clock in" else
                        RtMidiInput(self.options.backend, None, probe=True))
        own = kept.port.own_name
        source = self._find(sources, wanted)
        connected = self._connected[kind]
        if connected is not None and (source != connected or
                                      not self._links.connected(own, connected)):
            self._say(kind, logging.WARNING, f"{kind} port {connected!r} went away: "
                      "waiting for it to come back")
            self._connected[kind] = None
            kept.release_held()
            kept.name = own
        if wanted is None and kept.holding() and self._links.unconnected(own, CLIENT_NAME):
            kept.release_held()  # whoever played into it unplugged with keys down
        if wanted is None or self._connected[kind] is not None:
            return
        if source is None:
            self._say(kind, logging.WARNING, f"waiting for {kind} port {wanted!r} "
                      f"(there are: {port_listing(sources)})")
        elif self._links.connect(source, own):
            self._connected[kind] = kept.name = source
            doing = "taking MIDI clock from" if kind == "clock in" else "listening to"
            self._say(kind, logging.INFO, f"{doing} {source!r} through {own!r}")

    def _keep_linked_output(self, kind: str, output: KeptOutput, wanted: str | None,
                            destinations: list[str], doing: str) -> None:
        """JACK: Antiphon's own output (the answer's, or the clock's), always open,
        connected to the wanted synth; while the synth is away the port is parked, so the
        answer's notes are owed to it (and the clock goes nowhere)."""
        if output.port is None and self._parked[kind] is None:
            opened = self._open_clock_port() if kind == "clock out" else \
                RtMidiOutput(self.options.backend, None)
            if wanted is None:
                output.attach(opened)
            else:
                self._parked[kind] = opened
        port = output.port or self._parked[kind]
        if wanted is None:
            return
        destination = self._find(destinations, wanted)
        connected = self._connected[kind]
        if connected is not None and (destination != connected or
                                      not self._links.connected(port.own_name, connected)):
            self._say(kind, logging.WARNING, f"{kind} port {connected!r} went away: "
                      "waiting for it to come back")
            self._connected[kind] = None
            self._parked[kind] = output.detach()
        if self._connected[kind] is not None:
            return
        if destination is None:
            self._say(kind, logging.WARNING, f"waiting for {kind} port {wanted!r} "
                      f"(there are: {port_listing(destinations)})")
        elif self._links.connect(port.own_name, destination):
            self._connected[kind] = destination
            port.name = destination
            self._parked[kind] = None
            # What is sent first (a panic, a cut answer's releases) is sent once the
            # connection carries it.
            if output.panic_on_attach or output.sounding:
                self._links.settle(port.own_name, destination)
            output.attach(port)
            self._say(kind, logging.INFO, f"{doing} {destination!r} through "
                      f"{port.own_name!r}")

    def _open_clock_port(self) -> RtMidiOutput:
        """The clock's port, in a client of its own: on JACK a port of Antiphon's
        ("Antiphon Clock:clock") that the keeper connects; elsewhere opened onto the named
        port."""
        named = None if self._links is not None else self.options.clock_out
        return RtMidiOutput(self.options.backend, named, CLOCK_OUT_PORT_NAME,
                            VIRTUAL_CLOCK_OUT_NAME, exclude_own=named is not None)

    def _open_clock_in(self) -> RtMidiInput:
        """The clock's input, in a client of its own ("Antiphon Clock In:clock" on JACK,
        which the keeper connects; elsewhere opened onto the named port)."""
        named = None if self._links is not None else self.options.clock_in
        return RtMidiInput(self.options.backend, named, CLOCK_OUT_PORT_NAME,
                           VIRTUAL_CLOCK_IN_NAME, exclude_own=named is not None)

    def _find(self, ports: list[str], wanted: str | None) -> str | None:
        index = None if wanted is None else match_port(ports, wanted, own_ports(ports))
        return None if index is None else ports[index]

    def _keep_input(self, sources: list[str]) -> None:
        self._keep_opened("input", self.input, self._wanted_in, sources, "listening to",
                          lambda: RtMidiInput(self.options.backend, self._wanted_in,
                                              probe=True, exclude_own=True))

    def _keep_output(self, destinations: list[str]) -> None:
        self._keep_opened("output", self.output, self.options.out_port, destinations,
                          "answering on", lambda: RtMidiOutput(
                              self.options.backend, self.options.out_port, exclude_own=True))

    def _keep_opened(self, kind: str, kept: KeptInput | KeptOutput, wanted: str | None,
                     ports: list[str], doing: str, open_port) -> None:
        """Other MIDI systems: a named port is opened when it appears and closed when it
        goes (no way to ask them about connections); a virtual one is opened once."""
        if kept.port is not None:
            if wanted is None or kept.port.name in ports:
                return
            self._say(kind, logging.WARNING, f"{kind} port {kept.port.name!r} went away: "
                      "waiting for it to come back")
            kept.detach().close()
        if wanted is not None and match_port(ports, wanted, own_ports(ports)) is None:
            self._say(kind, logging.WARNING, f"waiting for {kind} port {wanted!r} "
                      f"(there are: {port_listing(ports)})")
            return
        opened = open_port()
        kept.attach(opened)
        self._say(kind, logging.INFO, f"{doing} {opened.name!r} through {opened.own_name!r}")

    def _open_listers(self) -> None:
        api = api_of(self.options.backend)
        try:
            self._listers = (rtmidi.MidiIn(api, name=f"{CLIENT_NAME} lister"),
                             rtmidi.MidiOut(api, name=f"{CLIENT_NAME} lister"))
        except rtmidi.RtMidiError as err:
            raise OSError(f"cannot reach the {self.options.backend} MIDI system: {err}") from err
        if self.options.backend == "jack":
            from antiphon.daemon.midi.jack_links import JackLinks, LinkMemory

            self._links = JackLinks.open()
            if self._links is not None and self._memory is None:
                self._memory = LinkMemory()

    def _close_listers(self) -> None:
        if self._listers is not None:
            for lister in self._listers:
                lister.delete()
            self._listers = None
        if self._links is not None:
            self._links.close()
            self._links = None

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
            thing.close() if hasattr(thing, "close") else thing.delete()
        except (OSError, rtmidi.RtMidiError) as err:
            log.debug("closing a port of the lost MIDI system: %s", err)
