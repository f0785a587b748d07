"""The four kinds of port the MIDI edge keeps, as types: the notes' input and output, and
the MIDI clock's (`--clock-in`, `--clock-out`). A kind says which way its port faces,
whether it carries clock, what Antiphon calls its own end, and what the log says Antiphon
does with the other side. `EdgeSide` is one kept port of the edge with the port it is
wanted on.

Both keepers (jack_edge.py, named_edge.py) and `antiphon status` (edge_status.py) go
through these, so a kind is spelled once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.daemon.midi.kept_ports import KeptInput, KeptOutput
from antiphon.daemon.midi.ports import (
    IN_PORT_NAME,
    OUT_PORT_NAME,
    VIRTUAL_IN_NAME,
    VIRTUAL_OUT_NAME,
)

# The clock's ports are in clients of their own: rtmidi opens each port in a client of its
# own, and two clients cannot share a name ("Antiphon Clock:clock" on JACK).
VIRTUAL_CLOCK_OUT_NAME = "Antiphon Clock"  # the client of the MIDI clock out (--clock-out)
VIRTUAL_CLOCK_IN_NAME = "Antiphon Clock In"  # the client of the MIDI clock in (--clock-in)
CLOCK_OUT_PORT_NAME = "clock"  # the port of either clock client


@dataclass(frozen=True)
class PortKind:
    """What a kept port is for. `label` is how log lines, the link memory and the keeper's
    "log once" topics name it ("clock in port 'x' went away")."""

    label: str
    is_input: bool  # messages come in through it (else Antiphon sends through it)
    carries_clock: bool  # MIDI clock (--clock-in / --clock-out), not the notes
    doing: str  # what Antiphon does with the other side, as a log line says it
    client_name: str  # Antiphon's client for it, as other programs see it
    port_name: str  # Antiphon's port in that client

    @property
    def status_key(self) -> str:
        """Its key in `antiphon status` ("clock_in")."""
        return self.label.replace(" ", "_")


NOTES_IN = PortKind("input", True, False, "listening to", VIRTUAL_IN_NAME, IN_PORT_NAME)
CLOCK_IN = PortKind("clock in", True, True, "taking MIDI clock from", VIRTUAL_CLOCK_IN_NAME,
                    CLOCK_OUT_PORT_NAME)
NOTES_OUT = PortKind("output", False, False, "answering on", VIRTUAL_OUT_NAME, OUT_PORT_NAME)
CLOCK_OUT = PortKind("clock out", False, True, "sending MIDI clock to",
                     VIRTUAL_CLOCK_OUT_NAME, CLOCK_OUT_PORT_NAME)
# The order the keeper looks at them in: the inputs first, so a keyboard back is heard
# before the answer's port is looked at.
KINDS = (NOTES_IN, CLOCK_IN, NOTES_OUT, CLOCK_OUT)


@dataclass
class EdgeSide:
    """One port of the edge: what it is for, the port the daemon holds (which outlives the
    real ones), and the port it is wanted on (a name or part of one; None: a virtual port
    for others to connect to). The input's `wanted` is set when the edge opens, should it
    take the first hardware input."""

    kind: PortKind
    kept: KeptInput | KeptOutput
    wanted: str | None

    @classmethod
    def for_kind(cls, kind: PortKind, wanted: str | None,
                 panic_on_attach: bool = False) -> EdgeSide:
        """A side whose kept port is named after what it is wanted on, or after Antiphon's
        own client while it is virtual; an output may silence its first port
        (`panic_on_attach`)."""
        name = wanted or kind.client_name
        kept = KeptInput(name) if kind.is_input else KeptOutput(name, panic_on_attach)
        return cls(kind, kept, wanted)
