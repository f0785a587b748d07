"""The daemon: ports, clock, scheduler, input gate and interaction loop, and its lifecycle.

`Daemon` takes open ports and a session, so the same object runs over the MIDI edge's
kept ports (`antiphon run`), over rtmidi ports (the demo where a MIDI system exists) and
over in-process loopback ports (the demo elsewhere, the tests). Its parts are built from
the config in parts.py, each given its collaborators through its constructor; what it
works with besides (the knobs that take the keyboard's controls, the MIDI clock it sends,
the clock's own input port) comes through its constructor too. wiring.py builds it with
the service's parts around it for `antiphon run`.

It is what the control room steers (`DaemonControls`, control/steering.py): a live change
of the config reaches each part through one method of that part (`InputGate.retune`,
`InteractionLoop.retune`, `Clock.set_bpm`).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import sys

from antiphon.daemon.config.cc_map import changed_knobs, feedback_messages
from antiphon.daemon.config.daemon_config import LIVE_OPTIONS, DaemonConfig
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.knobs import Knobs
from antiphon.daemon.control.steering import DaemonStatus
from antiphon.daemon.midi.edge import MidiEdge
from antiphon.daemon.midi.ports import MidiInput, MidiOutput
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.clock_out import ClockOut
from antiphon.daemon.play.link_clock import LinkClock
from antiphon.daemon.play.loop_parts import AnswerSession
from antiphon.daemon.play.midi_clock import MidiClockFollower
from antiphon.daemon.record.feed import TakeFeed
from antiphon.daemon.service.clock_following import ClockFollowing
from antiphon.daemon.service.parts import (
    build_parts,
    gate_settings,
    loop_settings,
    take_settings,
)
from antiphon.daemon.service.signals import ForcedShutdown, ShutdownRequest
from antiphon.daemon.service.systemd import Notifier
from antiphon.daemon.service.watchdog import ServiceWatch

log = logging.getLogger(__name__)

FORCED_STOP_LOCK_SECONDS = 0.2  # on a forced stop, how long to wait to release notes
GIL_SWITCH_INTERVAL_SECONDS = 0.0002  # how long a busy thread may keep the scheduler waiting
# How long a clean stop waits for each thread: a loop busy with a flood's backlog needs
# a moment, and a process that exits under a live thread aborts (well inside systemd's
# TimeoutStopSec of 10 s).
STOP_TIMEOUT_SECONDS = 3.0
SERVE_POLL_SECONDS = 0.1  # how often the main thread looks at the threads and the signals


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
        *,
        knobs: Knobs | None = None,
        clock_out: ClockOut | None = None,
        clock_in: MidiInput | None = None,
        feed: TakeFeed | None = None,
    ) -> None:
        """`clock`: the clock to play by (None: the one the config names); `edge`: the MIDI
        edge that keeps these ports, when there is one; `knobs`: the service's knobs, which
        the gate hands the keyboard's controls; `clock_out`: the MIDI clock sent
        (--clock-out), reported in the status; `clock_in`: the clock's own port
        (--clock-in), heard while the daemon listens; `feed`: the take's feed (the
        recorder, the web page), told every note, tempo and setting, started and stopped
        with the daemon."""
        self._config = config
        self.midi_in = midi_in
        self.midi_out = midi_out
        self.edge = edge
        self.clock_out = clock_out
        self._clock_in = clock_in
        self._feed = feed
        parts = build_parts(config, session, midi_out, clock, controls=knobs, feed=feed)
        self.clock, self.trace = parts.clock, parts.trace
        self.scheduler, self.loop, self.gate = parts.scheduler, parts.loop, parts.gate
        # What the daemon says and does as a clock it follows comes, goes and changes.
        self.following = ClockFollowing(self.clock, self.loop, parts.shares_clock, config.bpm)

    @property
    def config(self) -> DaemonConfig:
        """The config it plays by now (what changed live included)."""
        return self._config

    def apply_config(self, new: DaemonConfig) -> tuple[list[str], list[str]]:
        """Play by `new` from now on, as far as a running daemon can: returns (the live
        options that changed and were applied, the options that changed but need a
        restart). `model` is neither: the caller swaps models (`swap_session`)."""
        old = self.config
        changed = [name for name in LIVE_OPTIONS if getattr(new, name) != getattr(old, name)]
        frozen = [field.name for field in dataclasses.fields(DaemonConfig)
                  if field.name not in LIVE_OPTIONS and field.name != "model"
                  and getattr(new, field.name) != getattr(old, field.name)]
        # What is not applied stays as it was, so the config says what is playing.
        kept = {name: getattr(old, name) for name in [*frozen, "model"]}
        self._config = dataclasses.replace(new, **kept)
        if not changed:
            return changed, frozen
        if new.bpm != old.bpm:
            self.clock.set_bpm(new.bpm)  # re-anchors now: no beat jumps
        self.gate.retune(gate_settings(new, self.scheduler.pass_through))
        if old.thru and not new.thru:
            self.scheduler.release_thru()
        logging.getLogger().setLevel(new.log_level.upper())
        shares_clock = self.following.shares_clock
        self.loop.call(lambda: self.loop.retune(loop_settings(new, shares_clock)))
        self._tell_feed()
        log.info("settings changed: %s", ", ".join(
            f"{name} {getattr(old, name)!r} -> {getattr(new, name)!r}" for name in changed))
        # cc_feedback: the controller's LED rings follow, whoever changed the setting, on
        # the channel each knob is heard on.
        heard_on = getattr(self.gate.controls, "heard_on", None)
        self.send_controls(feedback_messages(self.config, changed_knobs(old, self.config),
                                             heard_on))
        return changed, frozen

    def send_controls(self, messages: list[tuple[int, ...]]) -> int:
        """Send control changes (knob values for a controller) through the output
        scheduler, due now; returns how many."""
        now = self.clock.now_beats()
        for message in messages:
            self.scheduler.schedule(now, message)
        return len(messages)

    def swap_session(self, session: AnswerSession, model: str | None) -> AnswerSession:
        """Answer with `session` (already loaded, beside the old one) from the next answer
        on; what is playing plays on. Returns the old session, for the caller to drop."""
        old = self.loop.session
        self.loop.call(lambda: self.loop.swap_session(session))
        self._config = dataclasses.replace(self._config, model=model)
        self._tell_feed()
        return old

    def panic(self) -> int:
        """Silence now, whatever the loop is doing, and drop the answer being sampled
        once it is done (it goes on scheduling until then); the notes released."""
        released = self.scheduler.panic()
        return released + self.loop.call(self.loop.silence)

    def end_phrase(self) -> None:
        """End the call being played (an end-of-call knob or key)."""
        self.loop.end_phrase()

    def take_every_cc(self, every: bool) -> None:
        """While a knob is learnt, the gate hands the knobs every controller moved."""
        self.gate.take_every_cc(every)

    def followed_tempo(self) -> float | None:
        """The tempo of a MIDI clock followed now (which `bpm` cannot set), else None."""
        clock = self.clock
        if isinstance(clock, MidiClockFollower) and not clock.lost():
            return clock.bpm
        return None

    def propose_tempo(self, bpm: float) -> None:
        """A Link session's tempo goes to its peers even when the config says it already
        (a peer may have moved it); another clock takes `bpm` through apply_config."""
        if isinstance(self.clock, LinkClock):
            self.clock.set_bpm(bpm)

    def snapshot(self) -> DaemonStatus:
        """What a status shows, now."""
        edge = self.edge
        ports = edge.describe() if edge is not None else {
            "input": {"port": self.midi_in.name, "state": "open"},
            "output": {"port": self.midi_out.name, "state": "open"},
        }
        return DaemonStatus(self.loop.machine.mode.value, self._config, self.loop.session,
                            self.loop.stats, self.scheduler.stats, self.gate.stats,
                            self.following.tempo_state(self._config), ports, self.clock_out)

    def start(self) -> None:
        if self._feed is not None:
            self._feed.start()
            self._tell_feed()
        self.scheduler.start()
        self.loop.start()
        self.midi_in.set_receiver(self.gate)
        if self._clock_in is not None:  # --clock-in: the clock's own port feeds the gate
            self._clock_in.set_receiver(self.gate.clock_input)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop listening, end the loop, release every sounding note, end the scheduler."""
        self._stop_listening()
        released_before = self.scheduler.stats.released
        self.loop.stop(timeout)  # its thread releases what the answer in flight sounded
        self.scheduler.stop(timeout)
        if self._feed is not None:  # after the scheduler: the take keeps the last releases
            self._feed.stop(timeout)
        self.clock.close()  # leaves a Link session
        self.following.close()  # the latency probe's JACK client
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

    def _tell_feed(self) -> None:
        """The take's feed hears the settings and the tempo answers play by now."""
        if self._feed is not None:
            self._feed.settings(take_settings(self._config))
            self._tell_feed_tempo()

    def _tell_feed_tempo(self) -> None:
        self._feed.tempo(self.clock.bpm, self.following.tempo_state(self._config)["source"])

    def _stop_listening(self) -> None:
        self.midi_in.set_receiver(None)
        if self._clock_in is not None:
            self._clock_in.set_receiver(None)

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
        self._stop_listening()
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

    def serve(self, shutdown: ShutdownRequest, notifier: Notifier | None = None,
              controller: Controller | None = None, ready_note: str = "") -> int:
        """Run until a stop signal (returns 0) or a failure (returns 1); stops cleanly.

        Tells the service manager (`notifier`) it is ready once it listens, pats its
        watchdog only while every thread lives and the MIDI system answers, and keeps a
        status line there; reloads (through `controller`) on a reload request.
        `ready_note` ends the ready line (the web page's address)."""
        notifier = notifier or Notifier.from_environment({})
        self.start()
        try:
            settle_for_realtime()
            if self.trace is not None:  # after the start-up collection: playing is what counts
                self.trace.watch_collections()
            log.info("ready: listening %s, answering %s (channel %d) at %g BPM%s",
                     _where(self.midi_in, "to"), _where(self.midi_out, "on"),
                     self.config.channel, self.clock.bpm, ready_note)
            notifier.ready(self.status_line())
            watchdog = ServiceWatch(notifier)
            while not shutdown.requested.wait(SERVE_POLL_SECONDS):
                failure = self.failure()
                if failure is not None:
                    log.error("stopping: %s", failure)
                    notifier.status(f"stopping: {failure}")
                    return 1
                if shutdown.reload_requested.is_set() and controller is not None:
                    shutdown.reload_requested.clear()
                    notifier.reloading()
                    answer = controller.handle({"command": "reload"})
                    notifier.ready(self.status_line() if answer["ok"] else
                                   f"reload refused: {answer['error']}")
                system_answers = self.edge is None or self.edge.system_lost_since is None
                watchdog.tick(self.status_line(), alive=system_answers)
                self.following.look(self.config)
                if self._feed is not None:  # the feed keeps only a change
                    self._tell_feed_tempo()
            notifier.stopping()
            return 0
        finally:
            try:
                self.stop()
            except ForcedShutdown:
                self.force_release()
                raise

    @property
    def plays_alone(self) -> bool:
        """Whether --clock auto plays on its own tempo (no clock heard yet, or it went)."""
        return self.config.clock_source == "auto" and not self.following.shares_clock

    def status_line(self) -> str:
        """One line for the service manager (`systemctl status` shows it)."""
        stats = self.loop.stats
        return (f"{self.loop.machine.mode.value}; {stats.phrases_heard} phrases, "
                f"{stats.answers_finished} answers, {stats.barge_ins} barge-ins; "
                f"model {self.config.model or 'default'} at {self.clock.bpm:g} BPM")


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
