"""The MIDI system as the edge's keeper sees it, over python-rtmidi: the lists of ports there
are (read through two clients that open no port of their own) and, for each kind of port,
one of Antiphon's opened.

The keeper (edge.py) asks only these few things of the system, so a test hands it another
object with the same methods (tests/daemon/midi/edge_fakes.py) and runs both keepers
without a MIDI system.
"""

from __future__ import annotations

import rtmidi

from antiphon.daemon.midi.backends import api_of, helper_client_name
from antiphon.daemon.midi.port_kinds import PortKind
from antiphon.daemon.midi.ports import RtMidiInput, RtMidiOutput


class PortLister:
    """A pair of rtmidi clients that list the sources (what an input can listen to) and
    the destinations (what an output can send to)."""

    def __init__(self, backend: str) -> None:
        api = api_of(backend)
        try:
            self._sources = rtmidi.MidiIn(api, name=helper_client_name("lister"))
        except rtmidi.RtMidiError as err:
            raise OSError(f"cannot reach the {backend} MIDI system: {err}") from err
        try:
            self._destinations = rtmidi.MidiOut(api, name=helper_client_name("lister"))
        except rtmidi.RtMidiError as err:
            self._sources.delete()
            raise OSError(f"cannot reach the {backend} MIDI system: {err}") from err

    def ports(self) -> tuple[list[str], list[str]]:
        return self._sources.get_ports(), self._destinations.get_ports()

    def close(self) -> None:
        """Delete both clients, one after the other (each may block on a dead server)."""
        self._sources.delete()
        self._destinations.delete()


class RtMidiSystem:
    """The keeper's MIDI system: `reach` (raises OSError when it is not there), `ports`,
    `open_port`, `let_go` (the system died: hand over its clients to close) and `leave`."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._lister: PortLister | None = None

    def reach(self) -> None:
        self._lister = PortLister(self.backend)

    def ports(self) -> tuple[list[str], list[str]] | None:
        """(sources, destinations) as the system lists them; None while it is not reached."""
        return None if self._lister is None else self._lister.ports()

    def open_port(self, kind: PortKind, named: str | None) -> RtMidiInput | RtMidiOutput:
        """Antiphon's port of `kind`, in its client: onto the port `named` (a name or part of
        one, never one of Antiphon's), or a virtual port when None. Only the notes' input
        is probed (reader.py): the clock's input proves nothing about the system."""
        exclude_own = named is not None
        if kind.is_input:
            return RtMidiInput(self.backend, named, kind.port_name, kind.client_name,
                               probe=not kind.carries_clock, exclude_own=exclude_own)
        return RtMidiOutput(self.backend, named, kind.port_name, kind.client_name,
                            exclude_own=exclude_own)

    def let_go(self) -> list[PortLister]:
        """Forget the lister (the system is gone); the caller closes what is returned."""
        lister, self._lister = self._lister, None
        return [] if lister is None else [lister]

    def leave(self) -> None:
        for lister in self.let_go():
            lister.close()
