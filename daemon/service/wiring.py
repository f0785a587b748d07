"""`antiphon run`'s object graph, built in one place: the daemon over the MIDI edge's ports,
the MIDI clock it sends, the knobs that take the keyboard's controls, and the Controller
that steers it all. Every collaborator goes in through a constructor; startup.py starts,
serves and stops what is built here.

The keyboard's controls go round: the input gate hands them to the knobs, the knobs carry
them out through the Controller, and the Controller steers the daemon that holds the gate.
The knobs are made first (the gate is given them as it is made) and take the Controller,
made last, when their thread starts (`Knobs.start(controller)`).

What is played goes round too, the other way: the take's feed is made before the daemon
(its gate, scheduler and loop tell it every note) with its listeners, the recorder and
the web page's live roll; the web page itself is made after the Controller it steers
through, and shows what the live roll hands it.

The latency compensation (port_latency.py) is made here too, from --output-latency-ms and,
on JACK, a probe of the server: the scheduler sends early by it, the clock following keeps
it current and the follower times its pulses back by it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from antiphon.daemon.config.daemon_config import BEATS_PER_BAR, DaemonConfig
from antiphon.daemon.control.controller import Controller, OscListening
from antiphon.daemon.control.knobs import Knobs
from antiphon.daemon.control.web.live import LiveRoll
from antiphon.daemon.midi.edge import MidiEdge
from antiphon.daemon.midi.jack_edge import JackEdge
from antiphon.daemon.midi.port_latency import JackLatencyProbe, OutputLatency
from antiphon.daemon.play.clock_out import ClockOut
from antiphon.daemon.play.loop_parts import AnswerSession
from antiphon.daemon.record.feed import TakeFeed
from antiphon.daemon.record.recorder import KeepPolicy, TakeRecorder
from antiphon.daemon.record.takes import takes_folder
from antiphon.daemon.service.daemon import Daemon
from antiphon.daemon.service.parts import make_clock

if TYPE_CHECKING:
    from antiphon.daemon.control.web.server import WebPage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    """What `antiphon run` serves with (see the module docstring)."""

    daemon: Daemon
    controller: Controller
    knobs: Knobs
    clock_out: ClockOut | None  # --clock-out: Antiphon's beat and bar sent as MIDI clock
    web: WebPage | None  # --web: the local web page (not started)


def record_folder(config: DaemonConfig) -> Path:
    """Where takes are kept: --record-folder, else sessions/ in the user's data folder."""
    return Path(config.record_folder).expanduser() if config.record_folder else takes_folder()


def open_recorder(config: DaemonConfig) -> TakeRecorder | None:
    """The take's recorder (--record), its folder checked, the takes a crash left
    unfinished made .mid files and old ones removed; None with --no-record, or when the
    folder cannot be used: that is said once, and the daemon plays on without a record."""
    if not config.record:
        return None
    recorder = TakeRecorder(record_folder(config),
                            KeepPolicy(config.record_keep_mb, config.record_keep_days))
    try:
        recorder.open()
    except Exception as err:  # noqa: BLE001 (said, not hidden: no take is worth a start)
        log.warning("not recording: %s; playing goes on", err)
        return None
    return recorder


def build_service(config: DaemonConfig, session: AnswerSession, edge: MidiEdge, *,
                  reread_config: Callable[[], DaemonConfig],
                  load_model: Callable[[DaemonConfig], AnswerSession],
                  socket_path: str | None = None,
                  osc: OscListening | None = None,
                  recorder: TakeRecorder | None = None) -> Service:
    """The daemon answering with `session` over `edge`'s ports (open), and the parts around
    it; nothing is started. `reread_config` makes the config anew for a reload,
    `load_model` loads the model a config names (a swap), `socket_path` and `osc` are
    where the control socket and OSC listen (said in the status), `recorder` keeps the
    take (open_recorder; None: no record)."""
    clock = make_clock(config)  # one clock: the daemon plays by it, the clock out sends it
    clock_out = None
    if edge.clock_output is not None:  # the band follows Antiphon's beat and bar
        clock_out = ClockOut(edge.clock_output, clock, BEATS_PER_BAR)
    knobs = Knobs()
    live = LiveRoll() if config.web else None
    listeners = [listener for listener in (recorder, live) if listener is not None]
    feed = TakeFeed(listeners) if listeners else None
    daemon = Daemon(config, session, edge.input, edge.output, clock, edge, knobs=knobs,
                    clock_out=clock_out, clock_in=edge.clock_input, feed=feed)
    latency = output_latency(config, edge)
    latency.look(*latency_ports(edge))  # the status states it from the start
    daemon.scheduler.compensate(latency)
    daemon.following.compensate(latency, lambda: latency_ports(edge))
    controller = Controller(daemon, reread_config, load_model, socket_path, knobs=knobs,
                            osc=osc, recorder=recorder)
    web = None
    if live is not None:  # aiohttp loads only with --web
        from antiphon.daemon.control.web.server import WebPage

        web = WebPage(controller, live, record_folder(config), config.web_port)
    return Service(daemon, controller, knobs, clock_out, web)


def output_latency(config: DaemonConfig, edge: MidiEdge) -> OutputLatency:
    """The latency compensation: --output-latency-ms, and on JACK what the server says
    (the input's delay, and the output's unless the setting names it)."""
    probe = JackLatencyProbe() if isinstance(edge, JackEdge) else None
    return OutputLatency(config.output_latency_ms, probe)


def latency_ports(edge: MidiEdge) -> tuple[str | None, str | None]:
    """Antiphon's own port the clock comes in on (its own, with --clock-in) and the
    answer's output port, as the MIDI system names them (None: not open yet)."""
    clock_in = edge.clock_input if edge.clock_input is not None else edge.input
    return clock_in.own_name, edge.output.own_name
