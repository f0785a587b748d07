"""MIDI clock out (`--clock-out PORT`): Antiphon as the band's master clock, so a drum
machine or a DAW follows its tempo, beats and bars.

One thread sends Timing Clock (0xF8), 24 pulses a beat of the daemon's `Clock`: pulse k is
due at `clock.seconds_at(k / 24)`, on Antiphon's own beat grid, so the follower's beats are
the beats answers land on. Each pulse's due time is asked of the clock anew, so a tempo
change (`antiphon set bpm`, a Link session's) is followed from the next pulse, with no jump
in phase: the clock re-anchors where it is when its tempo changes.

Transport: Start (0xFA) goes out just before a pulse on a bar line (the clock's beat a
multiple of `beats_per_bar`), and no pulse before it, so the follower's bars are Antiphon's
(`--answer-on bar`, `--phrase-end bars`, a Link session's quantum). When the port is
attached again (a drum machine plugged back in, a synth restarted), Start goes again before
the next bar line: what comes back starts in phase. Stop (0xFC) goes out once when the
sender stops, whichever way the daemon stops; also when it stops before its first Start,
so a device left running by a run that crashed stops too.

Precision: as the output scheduler does, the thread sleeps until `spin_seconds` before a
pulse (waking at least every MAX_SLEEP_SECONDS to ask the clock again: its tempo may
change) and spins the rest. It sends through the MIDI edge's kept port, which drops what
finds no port there: the thread never waits for a port.

A clock that jumps (a Link session aligning its beat) moves the pulses by whole beats, so
the follower's beats stay on Antiphon's: a pulse due more than a beat ago skips whole beats
to the next one ahead (a gap, counted in `skipped`: a burst would read as a tempo spike),
and one due more than a beat ahead is numbered whole beats back. A pulse late by less than
a beat (the thread was starved) goes out at once, as do the ones after it until the pulses
are on time again, so the follower's count of pulses stays right.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from antiphon.daemon.midi.ports import MidiOutput
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.midi_clock import CLOCK, PULSES_PER_BEAT, START, STOP

log = logging.getLogger(__name__)

MAX_SLEEP_SECONDS = 0.05  # ask the clock at least this often (its tempo may change)
LATE_THRESHOLD_SECONDS = 0.005  # a pulse sent later than this after its due time is late
RECENT_PULSES = 4096  # timing errors kept for status percentiles (about 40 s at 150 BPM)
STOP_TIMEOUT_SECONDS = 1.0

_CLOCK_MESSAGE = (CLOCK,)
_START_MESSAGE = (START,)
_STOP_MESSAGE = (STOP,)


@dataclass
class ClockOutStats:
    pulses: int = 0  # Timing Clock messages sent
    starts: int = 0  # Start messages sent (the first, and one per port attached again)
    late: int = 0  # pulses sent more than LATE_THRESHOLD_SECONDS after due
    skipped: int = 0  # pulses left out because the clock jumped ahead a beat or more
    send_errors: int = 0  # sends the port refused
    max_error_seconds: float = 0.0
    # sent - due of the latest pulses, and (sent - previous sent) - (due - previous due):
    # the interval error against the clock's own interval (bounded: a service runs for weeks)
    recent_errors: deque = field(default_factory=lambda: deque(maxlen=RECENT_PULSES))
    recent_interval_errors: deque = field(default_factory=lambda: deque(maxlen=RECENT_PULSES))


class ClockOut:
    """Sends MIDI clock of `clock` through `port`; see the module docstring. A port with an
    `attachments` count (the edge's KeptOutput) gets a Start again when the count moves."""

    def __init__(self, port: MidiOutput, clock: Clock, beats_per_bar: int = 4,
                 spin_seconds: float = 0.002) -> None:
        if beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be >= 1, got {beats_per_bar}")
        self._port = port
        self._clock = clock
        self._bar_pulses = beats_per_bar * PULSES_PER_BEAT
        self._spin_seconds = spin_seconds
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._stop_sent = False
        self._thread: threading.Thread | None = None
        self.running = False  # between the first Start and the Stop
        self.stats = ClockOutStats()
        self.error: BaseException | None = None  # why the thread died, if it did

    @property
    def port_name(self) -> str:
        return self._port.name

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("clock out already started")
        self._thread = threading.Thread(target=self._run, name="antiphon-clock-out",
                                        daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """End the pulses and send Stop (once, whoever gets there first: the thread as it
        ends, or this call when the thread is gone or does not end within `timeout`)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._send_stop()
        stats = self.stats
        log.info("clock out stopped: %d pulses, %d starts, timing error max %.2f ms, %d late, "
                 "%d skipped", stats.pulses, stats.starts, stats.max_error_seconds * 1e3,
                 stats.late, stats.skipped)

    def describe(self) -> dict:
        """For the status: whether the follower runs, and what was sent."""
        stats = self.stats
        return {"running": self.running, "pulses": stats.pulses, "starts": stats.starts,
                "late": stats.late, "skipped": stats.skipped, "send_errors": stats.send_errors}

    # -- sending --------------------------------------------------------------------------
    def _send(self, message: tuple[int, ...]) -> None:
        try:
            self._port.send(message)
        except OSError as err:  # a port closed under us: the next one takes over
            self.stats.send_errors += 1
            log.debug("clock out: %s", err)

    def _send_stop(self) -> None:
        with self._stop_lock:
            if self._stop_sent:
                return
            self._stop_sent = True
        self.running = False
        self._send(_STOP_MESSAGE)

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._pulse_loop()
        except BaseException as err:  # a bug: keep it for the status, and raise
            self.error = err
            raise
        finally:
            self._send_stop()

    def _pulse_loop(self) -> None:
        clock, stopping, spin = self._clock, self._stopping, self._spin_seconds
        perf_counter = time.perf_counter
        bar_pulses = self._bar_pulses
        # The first pulse is the next bar line's; Start goes just before it.
        number = bar_pulses * (math.floor(clock.now_beats() * PULSES_PER_BEAT / bar_pulses) + 1)
        start_pending = True
        attachments = getattr(self._port, "attachments", None)
        last_sent = last_due = None
        while not stopping.is_set():
            now = perf_counter()
            moved = self._renumber(number, clock.beats_at(now))
            if moved != number:
                number, last_sent = moved, None  # no interval across a jump
            due = clock.seconds_at(number / PULSES_PER_BEAT)
            rest = due - now - spin
            if rest > 0:
                stopping.wait(min(rest, MAX_SLEEP_SECONDS))
                continue
            seen = getattr(self._port, "attachments", None)
            if seen != attachments:  # a port attached again: it starts at the next bar
                attachments, start_pending = seen, True
            on_bar = number % bar_pulses == 0
            if not self.running and not on_bar:
                number += 1  # no pulse before the first Start (the clock jumped off the bar)
                continue
            if start_pending and on_bar:
                self._send(_START_MESSAGE)
                start_pending, self.running = False, True
                self.stats.starts += 1
            while perf_counter() < due:  # the last stretch, spun
                pass
            if stopping.is_set():
                return
            self._send(_CLOCK_MESSAGE)
            sent = perf_counter()
            self._count(sent, due, last_sent, last_due)
            last_sent, last_due = sent, due
            number += 1

    def _renumber(self, number: int, beats_now: float) -> int:
        """Pulse `number`, or the pulse whole beats from it that is due within a beat of
        `beats_now` (the clock jumped; see the module docstring)."""
        ahead = number / PULSES_PER_BEAT - beats_now  # beats until it is due
        # Before the first Start the first pulse is up to a bar away, by design.
        farthest = 1.0 if self.running else self._bar_pulses / PULSES_PER_BEAT
        if -1.0 <= ahead <= farthest + 1.0 / PULSES_PER_BEAT:
            return number
        # Late: skip whole beats until it is due a pulse ago at most (a gap, not a burst).
        period = 1.0 / PULSES_PER_BEAT
        beats = math.ceil(-ahead - period) if ahead < 0 else -math.floor(ahead)
        if beats > 0:
            self.stats.skipped += beats * PULSES_PER_BEAT
        log.info("clock out: the next pulse was due %+.2f beats from now (the clock jumped, "
                 "or the process was held up); pulses move %+d beats to stay on the clock's "
                 "beats", ahead, beats)
        return number + beats * PULSES_PER_BEAT

    def _count(self, sent: float, due: float, last_sent: float | None,
               last_due: float | None) -> None:
        stats = self.stats
        error = sent - due
        stats.pulses += 1
        stats.recent_errors.append(error)
        if last_sent is not None:
            stats.recent_interval_errors.append((sent - last_sent) - (due - last_due))
        if error > stats.max_error_seconds:
            stats.max_error_seconds = error
        if error > LATE_THRESHOLD_SECONDS:
            stats.late += 1
