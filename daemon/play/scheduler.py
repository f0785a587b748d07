"""The output scheduler: one thread that sends each message at its due time.

Messages wait in a heap of (due beat, sequence number, bytes); the sequence number keeps
messages due at the same beat in the order they were scheduled (note-offs before the
note-ons that follow them). Due times are beats, turned into seconds only when the thread
waits, so a tempo change (later: MIDI clock) moves what is still pending.

Latency: a message leaves `OutputLatency.output_seconds` before its due beat
(`compensate`; --output-latency-ms, or what JACK says), so it is heard on the beat rather
than that much after it. The compensation is applied here and nowhere else: a message
leaves at its beat's time less that lead, and its timing error is counted against that; the
taps are told the beat's time (when it is meant to be heard).

Precision: sleeping wakes up 0.1-1 ms late and unevenly, so the thread sleeps until
`spin_seconds` before the due time and spins the rest (error ~0.1 ms on an idle machine).

The scheduler tracks every note it has sounded, per (channel, pitch), so it can always
release them: on a barge-in, a panic, a stop, or a crash upstream. Its invariant: the
messages it sends are well-formed, every note-on is followed by exactly one note-off. A note
struck again while it sounds is released first (re-struck); a note-off for a note that does
not sound is dropped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from antiphon.daemon.midi.echo_guard import EchoGuard
from antiphon.daemon.midi.port_latency import OutputLatency
from antiphon.daemon.midi.ports import MidiOutput
from antiphon.daemon.midi.wire import SUSTAIN_PEDAL
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.message_taps import MessageTaps
from antiphon.daemon.play.time_source import TimeSource, time_of
from antiphon.engine.events import NOTE_OFF_STATUS, NOTE_ON_STATUS

log = logging.getLogger(__name__)

CONTROL_CHANGE_STATUS = 0xB0
ALL_NOTES_OFF_CONTROLLER = 123
MAX_SLEEP_SECONDS = 0.05  # re-read the clock at least this often (its tempo may change)
LATE_THRESHOLD_SECONDS = 0.005  # a message sent later than this after its due time is late
RECENT_SENDS = 4096  # timing errors kept for status percentiles

# A heap entry: (due beat, sequence number, message bytes or None for "release all").
_Entry = tuple[float, int, "tuple[int, ...] | None"]


@dataclass
class SchedulerStats:
    sent: int = 0  # messages sent at their due time (releases on stop not counted)
    late: int = 0  # of those, sent more than LATE_THRESHOLD_SECONDS after due
    total_error_seconds: float = 0.0  # sum of (sent - due), for the mean
    max_error_seconds: float = 0.0
    restruck: int = 0  # note-ons for a sounding note, released first
    dropped_note_offs: int = 0  # note-offs for notes that were not sounding
    released: int = 0  # notes released by release_all (barge-in, panic, stop)
    # sent - due of the latest sends, for percentiles (bounded: a service runs for weeks)
    recent_errors: deque = field(default_factory=lambda: deque(maxlen=RECENT_SENDS))

    @property
    def mean_error_seconds(self) -> float:
        return self.total_error_seconds / self.sent if self.sent else 0.0


class OutputScheduler:
    """Sends messages on time through `port`; see the module docstring."""

    def __init__(
        self,
        port: MidiOutput,
        clock: Clock,
        *,
        spin_seconds: float = 0.002,
        taps: MessageTaps | None = None,
        echo_guard: EchoGuard | None = None,
        time: TimeSource | None = None,
    ) -> None:
        self._port = port
        self._clock = clock
        self._spin_seconds = spin_seconds
        self._time = time_of(clock) if time is None else time  # what it reads and waits by
        self._heap: list[_Entry] = []
        self._sequence = itertools.count()
        # One lock guards the heap, the sounding notes and every send, so a cancel can never
        # slip between taking a note-on off the heap and sending it (a stuck note).
        self._cond = self._time.condition()
        self._sounding: set[tuple[int, int]] = set()  # (channel, pitch)
        self._channels_used: set[int] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = SchedulerStats()
        self.error: BaseException | None = None  # why the thread died, if it did
        self._taps = taps  # every send told (--timing-trace, the take)
        self._echo_guard = echo_guard  # told of every send, to know its echo
        # MIDI thru: the player's notes and pedal sounding on the output, kept apart from
        # the answer's (a barge-in must not cut the player's own sound), released at a stop.
        self._thru_sounding: set[tuple[int, int]] = set()
        self._thru_pedals: set[int] = set()
        self._latency = OutputLatency()  # nothing known: sent on the beat

    def compensate(self, latency: OutputLatency) -> None:
        """Send every message `latency.output_seconds` early (read at each wait: a change
        JACK reports moves what is pending)."""
        self._latency = latency

    @property
    def early_seconds(self) -> float:
        """How long before its due beat a message leaves now (the output latency)."""
        return self._latency.output_seconds

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("scheduler already started")
        self._thread = self._time.thread(self._run, "antiphon-scheduler")
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 1.0) -> int:
        """Stop the thread, drop what is pending and release every sounding note.

        Returns the number of notes released. Blocks up to `timeout` for the thread.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._time.join(self._thread, timeout)
        released = self.cancel_and_release(lock_timeout=timeout)
        released += self.release_thru()
        stats = self.stats
        log.info(
            "scheduler stopped: %d messages sent, timing error mean %.2f ms, max %.2f ms, "
            "%d late", stats.sent, stats.mean_error_seconds * 1e3,
            stats.max_error_seconds * 1e3, stats.late,
        )
        return released

    # -- scheduling -----------------------------------------------------------------------
    def schedule(self, due_beats: float, message: Sequence[int]) -> None:
        self._push(due_beats, tuple(message))

    def schedule_release_all(self, due_beats: float) -> None:
        """At `due_beats`, release whatever still sounds (the end of an answer)."""
        self._push(due_beats, None)

    def _push(self, due_beats: float, message: tuple[int, ...] | None) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due_beats, next(self._sequence), message))
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def sounding(self) -> list[tuple[int, int]]:
        """The (channel, pitch) of every note sounding now."""
        with self._cond:
            return sorted(self._sounding)

    # -- releasing ------------------------------------------------------------------------
    def cancel_and_release(self, lock_timeout: float = -1) -> int:
        """Drop every pending message and release every sounding note, atomically.

        Used for a barge-in, a panic and a stop. `lock_timeout` bounds the wait for the lock
        on a forced shutdown; returns the number of notes released (-1: lock not taken).
        """
        if not self._cond.acquire(timeout=lock_timeout):
            log.error("could not take the scheduler lock to release notes")
            return -1
        try:
            self._heap.clear()
            return self._release_all_locked()
        finally:
            self._cond.release()

    def pass_through(self, message: Sequence[int]) -> None:
        """MIDI thru: send a player's note or pedal move now (from the input's thread)."""
        message = tuple(message)
        status, channel = message[0] & 0xF0, message[0] & 0x0F
        with self._cond:
            key = (channel, message[1]) if len(message) == 3 else None
            struck = status == NOTE_ON_STATUS and len(message) == 3 and message[2] > 0
            if struck and key in self._sounding:  # the answer sounds that key: its voice
                self._sounding.discard(key)      # ends first, and its note-off is dropped,
                self._send((NOTE_OFF_STATUS | channel, message[1], 0))  # the player's stays
            self._send(message)
            if struck:
                self._thru_sounding.add(key)
                self._channels_used.add(channel)
            elif status in (NOTE_ON_STATUS, NOTE_OFF_STATUS):
                self._thru_sounding.discard((channel, message[1]))
            elif status == CONTROL_CHANGE_STATUS and message[1] == SUSTAIN_PEDAL:
                (self._thru_pedals.add if message[2] >= 64 else self._thru_pedals.discard)(
                    channel)

    def release_thru(self) -> int:
        """Release what MIDI thru left sounding (a stop, a panic, thru turned off)."""
        with self._cond:
            return self._release_thru_locked()

    def _release_thru_locked(self) -> int:
        for channel in sorted(self._thru_pedals):
            self._send((CONTROL_CHANGE_STATUS | channel, SUSTAIN_PEDAL, 0))
        for channel, pitch in sorted(self._thru_sounding):
            self._send((NOTE_OFF_STATUS | channel, pitch, 0))
        released = len(self._thru_sounding)
        self._thru_sounding.clear()
        self._thru_pedals.clear()
        return released

    def panic(self) -> int:
        """cancel_and_release, then All Notes Off on every channel Antiphon played on."""
        with self._cond:
            self._heap.clear()
            released = self._release_all_locked() + self._release_thru_locked()
            for channel in sorted(self._channels_used):
                self._send((CONTROL_CHANGE_STATUS | channel, ALL_NOTES_OFF_CONTROLLER, 0))
            return released

    def _send(self, message: tuple[int, ...], due: float | None = None) -> None:
        """Every message leaves through here (lock held), so the taps see them all."""
        self._port.send(message)
        if self._echo_guard is not None:
            self._echo_guard.sent(message, self._time.now())
        if self._taps is not None:
            self._taps.sent(due, message)

    def _release_all_locked(self, due: float | None = None) -> int:
        released = 0
        for channel, pitch in sorted(self._sounding):
            self._send((NOTE_OFF_STATUS | channel, pitch, 0), due)
            released += 1
        self._sounding.clear()
        self.stats.released += released
        return released

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._send_loop()
        except OSError as err:  # the output port went away: nothing more can be sent
            log.error("output scheduler stopped: %s", err)
            self.error = err
        except BaseException as err:  # a bug: keep it for the daemon to report, and raise
            self.error = err
            raise

    def _send_loop(self) -> None:
        clock = self._clock
        now, spin_until = self._time.now, self._time.spin_until
        while True:
            with self._cond:
                if self._stopping:
                    return
                if not self._heap:
                    self._cond.wait()
                    continue
                due_beats, sequence, message = self._heap[0]
                due = clock.seconds_at(due_beats)  # when it is to be heard...
                leave = due - self._latency.output_seconds  # ...so when it must leave
                sleep = leave - now() - self._spin_seconds
                if sleep > 0:
                    # Woken early by a new message, a cancel or a stop: plan again.
                    self._cond.wait(min(sleep, MAX_SLEEP_SECONDS))
                    continue
            spin_until(leave)  # the last stretch, spun outside the lock
            with self._cond:
                if self._stopping:
                    return
                if not self._heap or self._heap[0][1] != sequence:
                    continue  # cancelled, or an earlier message came in while spinning
                heapq.heappop(self._heap)
                if message is None:
                    self._release_all_locked(due)
                    continue
                self._send_locked(message, due)
                self._count_timing(now() - leave)

    def _send_locked(self, message: tuple[int, ...], due: float) -> None:
        status = message[0] & 0xF0
        if status not in (NOTE_ON_STATUS, NOTE_OFF_STATUS) or len(message) < 3:
            self._send(message, due)
            return
        channel = message[0] & 0x0F
        key = (channel, message[1])
        if status == NOTE_ON_STATUS and message[2] > 0:
            if key in self._thru_sounding:  # the player holds that key (MIDI thru): the
                return  # answer's strike would cut it at its note-off; the player's sounds
            if key in self._sounding:
                self._send((NOTE_OFF_STATUS | channel, message[1], 0), due)
                self.stats.restruck += 1
            self._send(message, due)
            self._sounding.add(key)
            self._channels_used.add(channel)
        elif key in self._sounding:
            self._send(message, due)
            self._sounding.discard(key)
        else:
            self.stats.dropped_note_offs += 1

    def _count_timing(self, error: float) -> None:
        stats = self.stats
        stats.sent += 1
        stats.total_error_seconds += error
        stats.recent_errors.append(error)
        if error > stats.max_error_seconds:
            stats.max_error_seconds = error
        if error > LATE_THRESHOLD_SECONDS:
            stats.late += 1
