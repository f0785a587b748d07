"""What `antiphon status` shows of the MIDI edge (edge.py): the MIDI system, each side's own
port, what it is wanted on (None: a virtual port others connect to), what it is connected
to and whether it is there.

The edge is read through `DescribedEdge`, what any keeper offers, so this module imports
no keeper (edge.py imports it).
"""

from __future__ import annotations

import time
from typing import Protocol

from antiphon.daemon.midi.kept_ports import KeptOutput
from antiphon.daemon.midi.port_kinds import CLOCK_IN, CLOCK_OUT, NOTES_IN, NOTES_OUT, EdgeSide
from antiphon.daemon.midi.system_watch import SystemWatch


class DescribedEdge(Protocol):
    """What the status needs of a keeper (edge.MidiEdge)."""

    backend: str
    sides: list[EdgeSide]
    reconnects: int
    watch: SystemWatch
    output: KeptOutput

    @property
    def system_lost_since(self) -> float | None: ...

    def side_connected(self, side: EdgeSide) -> bool: ...


def describe_side(edge: DescribedEdge, side: EdgeSide) -> dict:
    kept, wanted = side.kept, side.wanted
    if edge.system_lost_since is not None or kept.port is None:
        state = "waiting"
    elif wanted is None:
        state = "open"  # a virtual port: it is for others to connect to
    else:
        state = "connected" if edge.side_connected(side) else "waiting"
    linked = kept.name if wanted is not None and state == "connected" else None
    # A named port not there has no end of ours to show (None); a virtual one is named
    # before it opens.
    own = kept.own_name if kept.port is not None else None if wanted else kept.name
    return {"port": own, "wanted": wanted, "to": linked, "state": state}


def describe_edge(edge: DescribedEdge) -> dict:
    sides = {side.kind: side for side in edge.sides}
    lost = edge.system_lost_since
    described = {
        "midi_system": edge.backend,
        "system": "running" if lost is None else
                  f"lost {time.perf_counter() - lost:.1f} s ago",
        "reconnects": edge.reconnects,
        "input": describe_side(edge, sides[NOTES_IN]),
        "output": describe_side(edge, sides[NOTES_OUT]),
        "dropped_note_ons": edge.output.dropped_note_ons,
        "send_errors": edge.output.send_errors,
        "probe_doubts": edge.watch.doubts,
    }
    for kind in (CLOCK_OUT, CLOCK_IN):  # present only with --clock-out / --clock-in
        if kind in sides:
            described[kind.status_key] = describe_side(edge, sides[kind])
    return described
