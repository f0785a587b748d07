"""`antiphon run`: open the MIDI edge, load the model, claim the control socket, serve until
a signal, stop cleanly; every path out releases every note. wiring.py builds the daemon and
the parts around it (clock out, knobs, Controller); they, the control socket, OSC and
systemd's notifications are started and closed here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from antiphon.daemon.config import paths
from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.config.models import check_program_models
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.socket_server import ControlServer
from antiphon.daemon.midi.backends import resolve_backend
from antiphon.daemon.midi.edge_choice import EdgeOptions, choose_edge
from antiphon.daemon.play.link_clock import import_aalink
from antiphon.daemon.play.loop_parts import AnswerSession
from antiphon.daemon.service.signals import capture_signals
from antiphon.daemon.service.systemd import Notifier, under_service_manager
from antiphon.daemon.service.wiring import build_service, open_recorder
from antiphon.engine.memory import keep_freed_memory_returnable

log = logging.getLogger(__name__)


def resolve_model_path(model: str | None) -> Path:
    """The model option to a file: an .onnx path, or the name of one of the user's models
    or else of a shipped one (None: the shipped default). Raises FileNotFoundError naming
    the models of both kinds when there is no such."""
    from antiphon.daemon.config.models import default_model, find_model

    return default_model() if model is None else find_model(model)


def load_session(config: DaemonConfig) -> AnswerSession:
    """Load the model named by the config and start a conversation with it (a token or
    a piano-roll session, as the model's card says)."""
    from antiphon.engine.session import open_session

    return open_session(resolve_model_path(config.model), config.device, config.seed)


def run_daemon(config: DaemonConfig,
               reread_config: Callable[[], DaemonConfig] | None = None) -> int:
    """`antiphon run`: serve until a stop signal. Returns the exit status.

    Raises OSError (no MIDI system, a model file, another daemon on the control socket)
    and ValueError (a model this engine cannot play) before anything sounds; ForcedShutdown
    on a second signal, after releasing the notes. Ports named but not there yet are
    waited for (the log says so). `reread_config` makes the config anew for a reload.
    """
    socket_path = Path(config.control_socket).expanduser() if config.control_socket \
        else paths.control_socket()
    server = ControlServer(socket_path, lambda request: controller.handle(request))
    controller: Controller | None = None
    notifier = Notifier.from_environment()
    # Under a service manager SIGHUP means reload; in a terminal, that the terminal is gone.
    with capture_signals(reload_on_hangup=under_service_manager(),
                         hold_after_stop=True) as shutdown:
        server.claim()  # first: a second daemon must not touch the first one's ports
        edge = osc = knobs = clock_out = recorder = web = None
        serving = False
        try:
            if config.osc_port is not None:  # bound now: a port in use fails before any sound
                from antiphon.daemon.control.osc import OscControl

                osc = OscControl(config.osc_host, config.osc_port)
            if config.clock_source == "link":  # a missing package is said before the model loads
                import_aalink()
            keep_freed_memory_returnable()  # before the first model: flat over swaps
            session = load_session(config)  # a bad model is refused before any port opens
            check_program_models(config)  # and so is one a program change would load
            recorder = open_recorder(config)  # a crash's unfinished takes made .mid first
            backend = resolve_backend(config.backend)
            edge = choose_edge(EdgeOptions(backend, config.in_port, config.out_port,
                                           config.reconnect_timeout, config.panic_on_start,
                                           clock_out=config.clock_out,
                                           clock_in=config.clock_in))
            edge.open()
            # What a stop hook silences should this daemon die without releasing its notes.
            server.record_opened({"backend": backend, "out_port": config.out_port})
            edge.start()
            if shutdown.requested.is_set():
                return 0
            service = build_service(config, session, edge,
                                    reread_config=reread_config or (lambda: config),
                                    load_model=load_session, socket_path=str(socket_path),
                                    osc=osc, recorder=recorder)
            controller, clock_out = service.controller, service.clock_out
            if clock_out is not None:
                clock_out.start()
            knobs = service.knobs
            knobs.start(controller)  # the keyboard's controls steer through the Controller
            server.start()
            log.info("control socket: %s", socket_path)
            if osc is not None:
                osc.start(controller)
            ready_note = ""
            if service.web is not None:
                web = service.web
                web.start()  # a port in use fails here, before anything sounds
                ready_note = f"; web page {web.url}"
            serving = True  # the daemon's stop closes the take (its feed's listeners)
            return service.daemon.serve(shutdown, notifier, controller, ready_note)
        finally:
            if clock_out is not None:  # first: Stop goes out however the daemon stops
                clock_out.stop()
            if web is not None:
                web.stop()
            if osc is not None:
                osc.close()
            if recorder is not None and not serving:
                recorder.close()  # opened, never fed: its take is closed empty
            if knobs is not None:
                knobs.stop()
            server.close()
            if edge is not None:
                edge.close()  # after serve(): its stop released every note through the output
