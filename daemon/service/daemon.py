"""The daemon: ports, clock, scheduler and interaction loop wired together, and its lifecycle.

`Daemon` takes open ports and a session, so the same object runs over the MIDI edge's
kept ports (`antiphon run`), over rtmidi ports (the demo where a MIDI system exists) and
over in-process loopback ports (the demo elsewhere, the tests). `run_daemon` is `antiphon
run`: open the MIDI edge, load the model, serve until a signal, stop cleanly; every path
out releases every note.
"""

from __future__ import annotations

import gc
import logging
import queue
import sys
from pathlib import Path

from antiphon.daemon.midi.backends import resolve_backend
from antiphon.daemon.midi.edge import EdgeOptions, MidiEdge
from antiphon.daemon.midi.input_gate import InputGate
from antiphon.daemon.midi.ports import MidiInput, MidiOutput
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction import PhrasePolicy
from antiphon.daemon.play.interaction_loop import AnswerSession, InteractionLoop
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.daemon.play.timing_trace import TimingTrace
from antiphon.daemon.service.config import DaemonConfig
from antiphon.daemon.service.signals import ForcedShutdown, ShutdownRequest, capture_signals

log = logging.getLogger(__name__)

FORCED_STOP_LOCK_SECONDS = 0.2  # on a forced stop, how long to wait to release notes
GIL_SWITCH_INTERVAL_SECONDS = 0.0002  # how long a busy thread may keep the scheduler waiting


class Daemon:
    """One running call-and-response over a pair of ports."""

    def __init__(
        self,
        config: DaemonConfig,
        session: AnswerSession,
        midi_in: MidiInput,
        midi_out: MidiOutput,
        clock: Clock | None = None,
        edge: MidiEdge | None = None,
    ) -> None:
        self.config = config
        self.midi_in = midi_in
        self.midi_out = midi_out
        self.edge = edge  # the MIDI edge that keeps these ports, when there is one
        self.clock = clock or Clock(config.bpm)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.scheduler = OutputScheduler(midi_out, self.clock)
        policy = PhrasePolicy(
            silence_beats=config.silence_beats,
            min_answer_beats=config.min_answer_beats,
            max_answer_beats=config.max_answer_beats,
            grid_beats=config.grid_beats,
            max_hold_beats=config.max_hold_beats,
        )
        self.loop = InteractionLoop(
            session, self.scheduler, self.clock, policy, self._inbox,
            temperature=config.temperature, top_p=config.top_p, channel=config.channel - 1,
            max_opening_rest_beats=config.max_opening_rest_beats,
            rules=config.pitch_rules(),
        )
        self.trace = TimingTrace() if config.timing_trace else None
        self.scheduler.trace = self.loop.trace = self.trace
        # Called on the input's reader thread (never the MIDI system's): filter, shed, queue.
        self.gate = InputGate(self._inbox, config.listened_channels(), self.trace)

    def start(self) -> None:
        self.scheduler.start()
        self.loop.start()
        self.midi_in.set_receiver(self.gate)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop listening, end the loop, release every sounding note, end the scheduler."""
        self.midi_in.set_receiver(None)
        released_before = self.scheduler.stats.released
        self.loop.stop(timeout)  # its thread releases what the answer in flight sounded
        self.scheduler.stop(timeout)
        self._write_trace()
        stats = self.loop.stats
        gate = self.gate.stats
        log.info(
            "stopped: %d phrases heard, %d answers finished, %d barge-ins, %d late answers; "
            "%d notes released at stop; %d messages received, %d shed, %d on other channels",
            stats.phrases_heard, stats.answers_finished, stats.barge_ins, stats.late_answers,
            self.scheduler.stats.released - released_before, gate.received, gate.shed,
            gate.other_channels,
        )

    def _write_trace(self) -> None:
        if self.trace is None:
            return
        self.trace.stop_watching_collections()
        try:
            self.trace.write(self.config.timing_trace)
            log.info("timing trace: %d messages written to %s", len(self.trace.sends),
                     self.config.timing_trace)
        except OSError as err:  # the notes are released already; only the record is lost
            log.error("could not write the timing trace: %s", err)

    def force_release(self) -> None:
        """Last resort on a forced stop: release the notes without waiting for the threads."""
        self.midi_in.set_receiver(None)
        self.scheduler.cancel_and_release(lock_timeout=FORCED_STOP_LOCK_SECONDS)

    def failure(self) -> BaseException | None:
        """Why the daemon cannot go on (a thread died, the MIDI system is gone), or None."""
        if self.edge is not None:
            if self.edge.failure is not None:
                return OSError(self.edge.failure)
            if not self.edge.is_alive():
                return RuntimeError("the MIDI keeper thread ended unexpectedly")
        for part, name in ((self.loop, "interaction loop"), (self.scheduler, "scheduler")):
            if part.error is not None:
                return part.error
            if not part.is_alive():
                return RuntimeError(f"the {name} thread ended unexpectedly")
        return None

    def serve(self, shutdown: ShutdownRequest) -> int:
        """Run until a stop signal (returns 0) or a failure (returns 1); stops cleanly."""
        self.start()
        try:
            settle_for_realtime()
            if self.trace is not None:  # after the start-up collection: playing is what counts
                self.trace.watch_collections()
            log.info("ready: listening %s, answering %s (channel %d) at %g BPM",
                     _where(self.midi_in, "to"), _where(self.midi_out, "on"),
                     self.config.channel, self.clock.bpm)
            while not shutdown.requested.wait(0.1):
                failure = self.failure()
                if failure is not None:
                    log.error("stopping: %s", failure)
                    return 1
            return 0
        finally:
            try:
                self.stop()
            except ForcedShutdown:
                self.force_release()
                raise


def _where(port: MidiInput | MidiOutput, preposition: str) -> str:
    """A port as the MIDI system names it (what `jack_connect` or a DAW's list shows): the
    other side and Antiphon's own port through which it is reached."""
    own = getattr(port, "own_name", port.name)
    if own == port.name:
        return f"on {own!r}"
    return f"{preposition} {port.name!r} through {own!r}"


def settle_for_realtime() -> None:
    """Keep the garbage collector and the GIL from delaying the hot paths.

    Everything allocated at start-up (the model, numpy, rtmidi) moves to a permanent
    generation that collections skip, so a full collection stays short. A shorter GIL
    switch interval bounds how long a busy thread delays the scheduler's wake-up.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


def resolve_model_path(model: str | None) -> Path:
    """The model option to a file: an .onnx path, or a shipped model's name (None: the
    default). Raises FileNotFoundError naming the shipped models when there is no such."""
    from antiphon.exported_models import default_model_path, model_path

    return default_model_path() if model is None else model_path(model)


def load_session(config: DaemonConfig) -> AnswerSession:
    """Load the model named by the config and start a conversation with it (a token or
    a piano-roll session, as the model's card says)."""
    from antiphon.engine.session import open_session

    return open_session(resolve_model_path(config.model), config.device, config.seed)


def run_daemon(config: DaemonConfig) -> int:
    """`antiphon run`: serve until a stop signal. Returns the exit status.

    Raises OSError (no MIDI system, a model file) and ValueError (a model this engine cannot
    play) before anything sounds; ForcedShutdown on a second signal, after releasing the
    notes. Ports named but not there yet are waited for (the log says so).
    """
    with capture_signals() as shutdown:  # early: a Ctrl-C while the model loads is clean too
        session = load_session(config)  # a bad model is refused before any port opens
        backend = resolve_backend(config.backend)
        edge = MidiEdge(EdgeOptions(backend, config.in_port, config.out_port,
                                    config.reconnect_timeout, config.panic_on_start))
        try:
            edge.open()
            edge.start()
            if shutdown.requested.is_set():
                return 0
            return Daemon(config, session, edge.input, edge.output, edge=edge).serve(shutdown)
        finally:
            edge.close()  # after serve(): its stop released every note through the output
