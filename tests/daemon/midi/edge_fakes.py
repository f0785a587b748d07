"""A MIDI system in-process, for the edge's keepers (jack_edge.py, named_edge.py) without
JACK or ALSA: the other programs' ports it lists, the ports of Antiphon's it opens (the
loopback ports of loopback.py, so messages really travel), the connections between them
as JACK would keep them, and a server that can die and come back.

It offers what the keeper asks of `edge_system.RtMidiSystem` (`reach`, `ports`,
`open_port`, `let_go`, `leave`) and, for JACK, of `jack_links.JackLinks` (`FakeLinks`).
"""

from __future__ import annotations

from antiphon.daemon.midi.loopback import LoopbackInput, LoopbackOutput, MessageRecorder
from antiphon.daemon.midi.port_kinds import PortKind
from antiphon.daemon.midi.ports import PortNotFoundError, match_port, own_ports
from antiphon.daemon.midi.system_watch import SystemWatch


class Clock:
    """A perf_counter the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ServerSilence:
    """The probed input's reader as the watch sees it: silence is proven while the fake
    server is dead (the probes went nowhere)."""

    def __init__(self, system: FakeMidiSystem) -> None:
        self._system = system

    def silence_proven(self, seconds: float) -> bool:
        return not self._system.there


class FakeInput(LoopbackInput):
    """An input of Antiphon's: `name` the port it listens to, `own_name` its own end."""

    def __init__(self, name: str, own_name: str, probed: bool, system: FakeMidiSystem) -> None:
        super().__init__(name)
        self.own_name = own_name
        self.probed = probed
        self.reader = ServerSilence(system)
        self.closed = False

    def close(self) -> None:
        super().close()
        self.closed = True


class FakeOutput(LoopbackOutput):
    """An output of Antiphon's; what it sends reaches the recorder of the port it is for
    (the fake system's `heard[name]`), looked up at each send as a connection would be."""

    def __init__(self, name: str, own_name: str, system: FakeMidiSystem) -> None:
        super().__init__(name, LoopbackInput(own_name))
        self.own_name = own_name
        self._target.set_receiver(lambda arrived, message: system.carry(self, message))
        self.closed = False

    def sending_to(self, name: str) -> None:  # as RtMidiOutput's: the port linked to now
        self.name = name

    def close(self) -> None:
        super().close()
        self.closed = True


class FakeMidiSystem:
    """The MIDI system's lists and Antiphon's ports in it (see the module docstring).
    `sources` and `destinations` are the other programs' ports; `heard` what each
    destination received."""

    def __init__(self, sources: list[str] = (), destinations: list[str] = (),
                 jack: bool = False) -> None:
        self.jack = jack  # messages travel by connections only (else to the port opened on)
        self.sources = list(sources)
        self.destinations = list(destinations)
        self.there = True  # the server runs
        self.refuses = False  # it answers, yet no client can be opened
        self.reached = False
        self.opened: list[FakeInput | FakeOutput] = []  # every port of ours, in order
        self.connections: set[tuple[str, str]] = set()  # (source, destination), on JACK
        self.heard: dict[str, MessageRecorder] = {}

    # -- what the keeper asks ---------------------------------------------------------------
    def reach(self) -> None:
        if not self.there or self.refuses:
            raise OSError("cannot reach the fake MIDI system")
        self.reached = True

    def ports(self) -> tuple[list[str], list[str]] | None:
        if not self.reached:
            return None
        own_in = [port.own_name for port in self.open_ports() if isinstance(port, FakeInput)]
        own_out = [port.own_name for port in self.open_ports() if isinstance(port, FakeOutput)]
        # An input of ours is a port others send to, an output one they listen to.
        return self.sources + own_out, self.destinations + own_in

    def open_port(self, kind: PortKind, named: str | None) -> FakeInput | FakeOutput:
        own = f"{kind.client_name}:{kind.port_name}"
        name = own
        if named is not None:
            listed = self.sources if kind.is_input else self.destinations
            index = match_port(listed, named, own_ports(listed))
            if index is None:
                raise PortNotFoundError(f"no MIDI port matches {named!r}")
            name = listed[index]
        port = (FakeInput(name, own, not kind.carries_clock, self) if kind.is_input
                else FakeOutput(name, own, self))
        self.opened.append(port)
        return port

    def let_go(self) -> list:
        self.reached = False
        return []

    def leave(self) -> None:
        self.reached = False

    # -- what the test does -----------------------------------------------------------------
    def open_ports(self) -> list[FakeInput | FakeOutput]:
        return [port for port in self.opened if not port.closed]

    def port_of(self, own_name: str) -> FakeInput | FakeOutput:
        """The open port of Antiphon's whose own end is `own_name`."""
        return next(port for port in self.open_ports() if port.own_name == own_name)

    def unplug(self, port: str) -> None:
        """A program or device goes: its port leaves the lists, its connections with it."""
        for listed in (self.sources, self.destinations):
            if port in listed:
                listed.remove(port)
        self.connections = {pair for pair in self.connections if port not in pair}

    def die(self) -> None:
        """The server dies, and every connection with it."""
        self.there = False
        self.connections.clear()

    def carry(self, output: FakeOutput, message: list[int]) -> None:
        """What an output of ours sent reaches every port it is connected to (JACK), or the
        port it is opened onto (elsewhere)."""
        to = ({b for a, b in self.connections if a == output.own_name} if self.jack
              else {output.name})
        for destination in to:
            if destination in self.destinations:
                self.heard.setdefault(destination, MessageRecorder())(0.0, message)

    def play(self, source: str, message: list[int]) -> None:
        """A keyboard plays: every input of ours connected to `source` (JACK), or opened
        onto it (elsewhere), receives the message."""
        for port in self.open_ports():
            if not isinstance(port, FakeInput):
                continue
            heard = ((source, port.own_name) in self.connections if self.jack
                     else port.name == source)
            if heard:
                port.deliver(message)

    def watch(self, backend: str, reconnect_timeout: float, clock: Clock) -> SystemWatch:
        """The keeper's watch, asking this system whether it is there."""
        return SystemWatch(backend, reconnect_timeout, clock=clock,
                           ask=lambda name: self.there)


class FakeLinks:
    """JACK's connections as jack_links.JackLinks makes and checks them, over the fake
    system's; a new one per server (what the keeper opens after a restart)."""

    def __init__(self, system: FakeMidiSystem) -> None:
        self._system = system
        self.settled: list[tuple[str, str]] = []
        self.closed = False

    def _listed(self, port: str) -> bool:
        sources, destinations = self._system.ports() or ([], [])
        return port in sources or port in destinations

    def connect(self, source: str, destination: str) -> bool:
        if not (self._listed(source) and self._listed(destination)):
            return False
        self._system.connections.add((source, destination))
        return True

    def connected(self, own_port: str, other: str) -> bool:
        return (own_port, other) in self._system.connections or \
            (other, own_port) in self._system.connections

    def peers(self, own_port: str) -> list[str]:
        return [b if a == own_port else a for a, b in self._system.connections
                if own_port in (a, b)]

    def unconnected(self, own_port: str, ignoring: str) -> bool:
        return all(peer.startswith(ignoring) for peer in self.peers(own_port))

    def settle(self, source: str, destination: str) -> bool:
        self.settled.append((source, destination))
        return True

    def answers(self) -> bool:
        return self._system.there

    def close(self) -> None:
        self.closed = True
