"""The MIDI edge where Antiphon cannot ask about connections (ALSA, CoreMIDI, Windows MM,
and JACK without python-jack-client): each named port is opened when it appears in the
system's lists and closed when it goes; a virtual port is opened once and kept.

A port that goes and comes back between two looks keeps its name in the lists, and such a
system cannot say the connection went with it: the port stays open. On JACK, where that can
be told, jack_edge.py keeps the ports instead.
"""

from __future__ import annotations

from antiphon.daemon.midi.edge import MidiEdge
from antiphon.daemon.midi.port_kinds import EdgeSide
from antiphon.daemon.midi.ports import match_port, own_ports


class NamedEdge(MidiEdge):
    """Opens and closes the named ports as they come and go (see the module docstring)."""

    def side_connected(self, side: EdgeSide) -> bool:
        return True  # an open port is opened onto the port it is wanted on

    def _keep(self, sources: list[str], destinations: list[str]) -> None:
        for side in self.sides:
            self._keep_opened(side, sources if side.kind.is_input else destinations)

    def _keep_opened(self, side: EdgeSide, ports: list[str]) -> None:
        kept, wanted = side.kept, side.wanted
        if kept.port is not None:
            if wanted is None or kept.port.name in ports:
                return
            self._say_went_away(side, kept.port.name)
            kept.detach().close()  # a KeptInput releases the keys it held down
        if wanted is not None and match_port(ports, wanted, own_ports(ports)) is None:
            self._say_waiting(side, ports)
            return
        opened = self.system.open_port(side.kind, wanted)
        kept.attach(opened)
        self._say_taken(side, opened.name, opened.own_name)
