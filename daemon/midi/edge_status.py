"""What `antiphon status` shows of the MIDI edge (edge.py): each side's own port, what it is
wanted on (None: a virtual port others connect to), and whether it is there."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from antiphon.daemon.midi.edge import MidiEdge
    from antiphon.daemon.midi.kept_ports import KeptInput, KeptOutput


def describe_edge(edge: MidiEdge) -> dict:
    def side(kept: KeptInput | KeptOutput, wanted: str | None, kind: str) -> dict:
        if edge.system_lost_since is not None or kept.port is None:
            state = "waiting"
        elif wanted is None:
            state = "open"  # a virtual port: it is for others to connect to
        elif edge._links is not None:
            state = "connected" if edge._connected[kind] else "waiting"
        else:
            state = "connected"
        linked = kept.name if wanted is not None and state == "connected" else None
        # A named port not there has no end of ours to show (None); a virtual one is
        # named before it opens.
        own = kept.own_name if kept.port is not None else None if wanted else kept.name
        return {"port": own, "wanted": wanted, "to": linked, "state": state}

    options = edge.options
    lost = edge.system_lost_since
    described = {
        "midi_system": options.backend,
        "system": "running" if lost is None else
                  f"lost {time.perf_counter() - lost:.1f} s ago",
        "reconnects": edge.reconnects,
        "input": side(edge.input, edge._wanted_in, "input"),
        "output": side(edge.output, options.out_port, "output"),
        "dropped_note_ons": edge.output.dropped_note_ons,
        "send_errors": edge.output.send_errors,
        "probe_doubts": edge.watch.doubts,
    }
    if edge.clock_output is not None:
        described["clock_out"] = side(edge.clock_output, options.clock_out, "clock out")
    if edge.clock_input is not None:
        described["clock_in"] = side(edge.clock_input, options.clock_in, "clock in")
    return described
