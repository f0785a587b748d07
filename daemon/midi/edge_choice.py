"""The MIDI edge as the service gets it: `choose_edge(EdgeOptions(...))` picks, once, the way
the ports are kept for the backend (one module per way, as mido keeps one per backend).

On JACK, where python-jack-client loads, Antiphon's own ports are kept connected
(jack_edge.JackEdge); everywhere else named ports are opened and closed as they come and go
(named_edge.NamedEdge). Both are an `edge.MidiEdge`. This module is apart from edge.py so
that the keepers import their base and nothing imports back.
"""

from __future__ import annotations

from antiphon.daemon.midi.edge import EdgeOptions, MidiEdge
from antiphon.daemon.midi.jack_edge import JackEdge
from antiphon.daemon.midi.jack_links import client_library_loads
from antiphon.daemon.midi.named_edge import NamedEdge

__all__ = ["EdgeOptions", "MidiEdge", "choose_edge"]


def choose_edge(options: EdgeOptions) -> MidiEdge:
    """The keeper of the ports `options` name, not opened yet (`open`, then `start`)."""
    if options.backend == "jack" and client_library_loads():
        return JackEdge(options)
    return NamedEdge(options)
