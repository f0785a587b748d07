"""`antiphon run`'s object graph, built in one place: the daemon over the MIDI edge's ports,
the MIDI clock it sends, the knobs that take the keyboard's controls, and the Controller
that steers it all. Every collaborator goes in through a constructor; startup.py starts,
serves and stops what is built here.

The keyboard's controls go round: the input gate hands them to the knobs, the knobs carry
them out through the Controller, and the Controller steers the daemon that holds the gate.
The knobs are made first (the gate is given them as it is made) and take the Controller,
made last, when their thread starts (`Knobs.start(controller)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from antiphon.daemon.config.daemon_config import BEATS_PER_BAR, DaemonConfig
from antiphon.daemon.control.controller import Controller, OscListening
from antiphon.daemon.control.knobs import Knobs
from antiphon.daemon.midi.edge import MidiEdge
from antiphon.daemon.play.clock_out import ClockOut
from antiphon.daemon.play.loop_parts import AnswerSession
from antiphon.daemon.service.daemon import Daemon
from antiphon.daemon.service.parts import make_clock


@dataclass(frozen=True)
class Service:
    """What `antiphon run` serves with (see the module docstring)."""

    daemon: Daemon
    controller: Controller
    knobs: Knobs
    clock_out: ClockOut | None  # --clock-out: Antiphon's beat and bar sent as MIDI clock


def build_service(config: DaemonConfig, session: AnswerSession, edge: MidiEdge, *,
                  reread_config: Callable[[], DaemonConfig],
                  load_model: Callable[[DaemonConfig], AnswerSession],
                  socket_path: str | None = None,
                  osc: OscListening | None = None) -> Service:
    """The daemon answering with `session` over `edge`'s ports (open), and the parts around
    it; nothing is started. `reread_config` makes the config anew for a reload,
    `load_model` loads the model a config names (a swap), `socket_path` and `osc` are
    where the control socket and OSC listen (said in the status)."""
    clock = make_clock(config)  # one clock: the daemon plays by it, the clock out sends it
    clock_out = None
    if edge.clock_output is not None:  # the band follows Antiphon's beat and bar
        clock_out = ClockOut(edge.clock_output, clock, BEATS_PER_BAR)
    knobs = Knobs()
    daemon = Daemon(config, session, edge.input, edge.output, clock, edge, knobs=knobs,
                    clock_out=clock_out, clock_in=edge.clock_input)
    controller = Controller(daemon, reread_config, load_model, socket_path, knobs=knobs,
                            osc=osc)
    return Service(daemon, controller, knobs, clock_out)
