"""The MIDI edge on JACK: Antiphon's ports are its own (virtual) ports, always open, and the
keeper connects them to the named ports through python-jack-client (jack_links.py).

A keyboard's client that quits and comes back under the same name between two looks has
the same port name and no connection, which only JACK can tell: the keeper checks each
connection at every look and makes it again. While a named synth is away the output's port
is parked (open, but not under the kept output), so an answer's notes are owed to the synth
and released first when it is back; the clock out's port waits the same way, and sends
nothing. When the server dies it takes with it the connections other programs made to
Antiphon's ports (a patchbay, a session manager, the user): the link memory
(`jack_links.LinkMemory`) makes them again once the server and both ends are back.
"""

from __future__ import annotations

from collections.abc import Callable

from antiphon.daemon.midi.edge import EdgeOptions, MidiEdge
from antiphon.daemon.midi.edge_system import RtMidiSystem
from antiphon.daemon.midi.jack_links import JackLinks, LinkMemory
from antiphon.daemon.midi.port_kinds import EdgeSide, PortKind
from antiphon.daemon.midi.ports import CLIENT_NAME, RtMidiOutput


class JackEdge(MidiEdge):
    """Keeps Antiphon's own ports connected (see the module docstring). `open_links` is
    replaceable for tests."""

    def __init__(self, options: EdgeOptions, system: RtMidiSystem | None = None,
                 open_links: Callable[[], JackLinks | None] = JackLinks.open) -> None:
        super().__init__(options, system)
        self._open_links = open_links
        self._links: JackLinks | None = None
        self._memory = LinkMemory()
        # The named port each side is connected to now, and the outputs parked meanwhile.
        self._connected: dict[PortKind, str | None] = {side.kind: None for side in self.sides}
        self._parked: dict[PortKind, RtMidiOutput | None] = {
            side.kind: None for side in self.sides if not side.kind.is_input}

    def side_connected(self, side: EdgeSide) -> bool:
        return self._connected[side.kind] is not None

    # -- reaching and losing the system ------------------------------------------------------
    def _reach_system(self) -> None:
        super()._reach_system()
        self._links = self._open_links()
        if self._links is None:  # the reason is logged by JackLinks.open
            self.system.leave()
            raise OSError("cannot ask the JACK server about connections (is it running?)")

    def _server_answers(self) -> Callable[[], bool] | None:
        return self._links.answers if self._links is not None else None

    def _let_go(self) -> list:
        self._memory.lost()
        dead = [*super()._let_go(), *self._parked.values(), self._links]
        self._links = None
        self._parked = dict.fromkeys(self._parked)
        self._connected = dict.fromkeys(self._connected)
        return dead

    def _leave_system(self) -> None:
        for parked in self._parked.values():
            if parked is not None:
                parked.close()
        super()._leave_system()
        if self._links is not None:
            self._links.close()
            self._links = None

    # -- keeping the connections -------------------------------------------------------------
    def _keep(self, sources: list[str], destinations: list[str]) -> None:
        if self._links is None:
            return
        for side in self.sides:
            if side.kind.is_input:
                self._keep_linked_input(side, sources)
            else:
                self._keep_linked_output(side, destinations)
        own = {}
        for side in self.sides:
            port = side.kept.port or self._parked.get(side.kind)
            if port is not None:
                own[side.kind] = port.own_name
        self._memory.restore(self._links, own, sources, destinations)
        self._memory.look(self._links, own)

    def _keep_linked_input(self, side: EdgeSide, sources: list[str]) -> None:
        """Antiphon's own input (the notes', or the clock's), always open, connected to the
        wanted keyboard or DAW."""
        kind, kept, wanted = side.kind, side.kept, side.wanted
        links = self._links
        if kept.port is None:
            kept.attach(self.system.open_port(kind, None))
        own = kept.port.own_name
        source = self._find(sources, wanted)
        connected = self._connected[kind]
        if connected is not None and (source != connected or
                                      not links.connected(own, connected)):
            self._connected[kind] = None  # before it is said: a status asked then agrees
            kept.release_held()
            kept.listening_to(own)
            self._say_went_away(side, connected)
        if wanted is None and kept.holding() and links.unconnected(own, CLIENT_NAME):
            kept.release_held()  # whoever played into it unplugged with keys down
        if wanted is None or self._connected[kind] is not None:
            return
        if source is None:
            self._say_waiting(side, sources)
        elif links.connect(source, own):
            self._connected[kind] = source
            kept.listening_to(source)
            self._say_taken(side, source, own)

    def _keep_linked_output(self, side: EdgeSide, destinations: list[str]) -> None:
        """Antiphon's own output (the answer's, or the clock's), always open, connected to
        the wanted synth; while the synth is away the port is parked, so the answer's notes
        are owed to it (and the clock goes nowhere)."""
        kind, output, wanted = side.kind, side.kept, side.wanted
        links = self._links
        if output.port is None and self._parked[kind] is None:
            opened = self.system.open_port(kind, None)
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
                                      not links.connected(port.own_name, connected)):
            self._connected[kind] = None  # before it is said: a status asked then agrees
            self._parked[kind] = output.detach()
            self._say_went_away(side, connected)
        if self._connected[kind] is not None:
            return
        if destination is None:
            self._say_waiting(side, destinations)
        elif links.connect(port.own_name, destination):
            self._connected[kind] = destination
            port.sending_to(destination)
            self._parked[kind] = None
            # What is sent first (a panic, a cut answer's releases) is sent once the
            # connection carries it.
            if output.panic_on_attach or output.sounding:
                links.settle(port.own_name, destination)
            output.attach(port)
            self._say_taken(side, destination, port.own_name)
