"""What the daemon says and does as the clock it follows comes, goes and changes, and the
tempo as a status shows it.

The main thread looks every serve poll (`ClockFollowing.look`): a MIDI clock that stops
coming, comes back, or changes tempo is said once, not every poll; under --clock auto a
clock that comes puts the answers on the band's grid, and one that goes lets the daemon
play alone again at the last tempo. Changes to the loop go through `InteractionLoop.call`
and `retune`, between two answers.

It also keeps the latency compensation current (`compensate`): each look asks the MIDI
system again, at most every few seconds, what delays a message on Antiphon's ports
(port_latency.py); the scheduler sends that much early, the follower times its pulses that
much back, and the status states it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi.port_latency import OutputLatency
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction_loop import InteractionLoop
from antiphon.daemon.play.link_clock import LinkClock
from antiphon.daemon.play.midi_clock import MidiClockFollower
from antiphon.daemon.service.parts import loop_settings

log = logging.getLogger(__name__)

AUTO_ALONE_SECONDS = 2.0  # --clock auto: a clock silent this long has gone; play alone


class ClockFollowing:
    """The clock a daemon plays by, as its news are said (see the module docstring)."""

    def __init__(self, clock: Clock, loop: InteractionLoop, shares_clock: bool,
                 bpm: float) -> None:
        self.clock = clock
        self._loop = loop
        self.shares_clock = shares_clock  # whether the beat is the band's (parts.shares_clock)
        self._lost = True  # until the first pulses: said when they come
        self._taken_up = 0  # the follower's count of clocks taken up, as said
        self._said_bpm = bpm  # the tempo said last
        self.latency = OutputLatency()  # nothing known, nothing compensated
        self._latency_ports: Callable[[], tuple[str | None, str | None]] | None = None

    def compensate(self, latency: OutputLatency,
                   ports: Callable[[], tuple[str | None, str | None]]) -> None:
        """Keep `latency` current at each look; `ports` names Antiphon's own port the
        clock comes in on and the answer's output (they may change as the edge reopens
        them). A followed MIDI clock times its pulses back by its input delay."""
        self.latency = latency
        self._latency_ports = ports
        if isinstance(self.clock, MidiClockFollower):
            self.clock.compensate(latency)

    def close(self) -> None:
        """Let go of what asks the MIDI system for its latencies (a JACK client)."""
        self.latency.close()

    def look(self, config: DaemonConfig) -> None:
        """A MIDI clock that stops coming (or comes back) is said once, not every poll;
        the latencies are asked again."""
        if self._latency_ports is not None:
            self.latency.look(*self._latency_ports())
        clock = self.clock
        if not isinstance(clock, MidiClockFollower) or clock.pulses == 0:
            return
        if news := clock.tell_sources_apart():  # two clocks on one port (not summed)
            log.warning("%s", news)
        lost = clock.lost()
        if (lost and self.shares_clock and config.clock_source == "auto"
                and clock.silent_seconds() > AUTO_ALONE_SECONDS):
            self._play_alone(clock, config)
        if not lost and not clock.settled():
            return  # its tempo is still the old one: said once the clock's own is known
        if not lost and clock.taken_up != self._taken_up:  # a new clock, or anew
            self._taken_up = clock.taken_up
            if not self._lost and abs(clock.bpm / self._said_bpm - 1) > 0.01:
                self._said_bpm = clock.bpm
                log.info("MIDI clock: following it at %.1f BPM", clock.bpm)
        if lost != self._lost:
            self._lost = lost
            if not lost and not self.shares_clock:  # --clock auto: the band's grid now
                self.shares_clock = True
                settings = loop_settings(config, shares_clock=True)
                self._loop.call(lambda: self._loop.retune(settings))
            if lost:
                log.warning("MIDI clock lost: keeping its last tempo, %.1f BPM", clock.bpm)
            else:
                self._said_bpm = clock.bpm
                log.info("MIDI clock: following it at %.1f BPM", clock.bpm)

    def _play_alone(self, clock: MidiClockFollower, config: DaemonConfig) -> None:
        """--clock auto, and the DAW's clock gone (stopped and closed, or unplugged): the
        daemon plays on its own again, on the call's grid, at the last tempo, answering
        whatever the DAW's transport said last; a clock that comes is taken up afresh."""
        clock.play_on_alone()
        self.shares_clock = False
        settings = loop_settings(config, shares_clock=False)
        self._loop.call(lambda: self._loop.play_alone(settings))
        log.info("MIDI clock gone: playing on its own at %.1f BPM until one comes "
                 "(--clock auto)", clock.bpm)

    def tempo_state(self, config: DaemonConfig) -> dict:
        """The tempo and where it comes from: the internal clock, MIDI clock (followed,
        lost: its last tempo kept, or not heard yet; and whether the DAW's transport runs),
        or a Link session (and how many other peers are in it)."""
        clock = self.clock
        state = {"bpm": round(clock.bpm, 3), "source": "internal",
                 "latency": self.latency.state()}
        if isinstance(clock, LinkClock):
            state.update(source="link", peers=clock.peers)
        if isinstance(clock, MidiClockFollower):
            if config.clock_source == "auto" and not self.shares_clock:  # plays alone
                state["source"] = ("internal (auto: no MIDI clock heard yet)"
                                   if clock.pulses == 0
                                   else "internal (auto: the MIDI clock went away)")
                return state
            heard = "not heard yet" if clock.pulses == 0 else "lost: its last tempo kept"
            state["source"] = "midi clock" + ("" if not clock.lost() else f" ({heard})")
            state["running"] = self._loop.transport_running
            state["ignored_pulses"] = clock.ignored_pulses  # a second clock's, on one port
        return state
