"""What the control room asks of a running daemon, and what it reads of it.

`DaemonControls` declares exactly what the `Controller` and the knobs need of the daemon
they steer: its config, live changes of it, a model swap, control changes sent out, a
panic, the end of a call, a learn's hold on every controller, the tempo, and a status
snapshot. The service's `Daemon` satisfies it; the control room imports no service module
and reaches into none of the daemon's parts (its loop, scheduler, gate or clock).

`DaemonStatus` is that snapshot: what `antiphon status` and OSC's state messages show,
read at once from the parts that keep it (their counters are live: a status reads them as
they are when it is made).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi.input_gate import GateStats
from antiphon.daemon.play.clock_out import ClockOut
from antiphon.daemon.play.loop_parts import AnswerSession, LoopStats
from antiphon.daemon.play.scheduler import SchedulerStats


@dataclass(frozen=True)
class DaemonStatus:
    """A running daemon as a status shows it."""

    mode: str  # the call-and-response state: idle, listening, responding
    config: DaemonConfig  # what it plays by now
    session: AnswerSession  # the model answering now
    loop: LoopStats  # phrases, answers, barge-ins, latencies
    scheduler: SchedulerStats  # sends, late sends, releases, send errors
    gate: GateStats  # messages received, shed, echoes, on other channels
    tempo: dict  # the tempo and where it comes from (internal, MIDI clock, Link)
    ports: dict  # each port, what it is connected to, and its state
    clock_out: ClockOut | None  # the MIDI clock sent (--clock-out), if any


class DaemonControls(Protocol):
    """A running daemon as the control room steers it (see the module docstring)."""

    @property
    def config(self) -> DaemonConfig:
        """The config it plays by now (what changed live included)."""
        ...

    def apply_config(self, new: DaemonConfig) -> tuple[list[str], list[str]]:
        """Play by `new` from now on as far as a running daemon can: (the live options that
        changed and were applied, the options that changed but need a restart)."""
        ...

    def swap_session(self, session: AnswerSession, model: str | None) -> AnswerSession:
        """Answer with `session` (loaded) from the next answer on; returns the old one."""
        ...

    def send_controls(self, messages: list[tuple[int, ...]]) -> int:
        """Send control changes (knob values for a controller) now; how many."""
        ...

    def panic(self) -> int:
        """Silence now and drop the answer being sampled; how many notes were released."""
        ...

    def end_phrase(self) -> None:
        """End the call being played (an end-of-call knob or key)."""
        ...

    def take_every_cc(self, every: bool) -> None:
        """While a knob is learnt (`every`), hand the knobs every controller moved."""
        ...

    def followed_tempo(self) -> float | None:
        """The tempo of a MIDI clock followed now, which `bpm` cannot set; else None."""
        ...

    def propose_tempo(self, bpm: float) -> None:
        """A Link session's tempo is proposed to its peers, even when the config says it
        already (a peer may have moved it); other clocks take `bpm` by `apply_config`."""
        ...

    def snapshot(self) -> DaemonStatus:
        """What a status shows, now."""
        ...
