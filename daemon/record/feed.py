"""TakeFeed: what the daemon received and sent, taken off its MIDI and sampling threads and
handed to the listeners (the journal, the web page) on a thread of its own.

The taps (`received`, `sent`, `answer`, `tempo`, `settings`) run on the daemon's threads:
the reader, the scheduler with its lock held, the interaction loop, the main thread. Each
only decides whether the message belongs to the take and puts a tuple (perf_counter
seconds, kind, payload) on a `queue.SimpleQueue`; past QUEUE_LIMIT waiting items a tap
sheds what it was given and counts it (`shed`), so a stuck listener never grows memory and
never slows the music. A tap never blocks and never raises.

The thread "antiphon-recorder" wakes on each item, drains what waits, turns it into
TakeEvents and hands the batch to every listener at once (a note reaches the web page
within milliseconds), and calls each listener's `flush` at least every FLUSH_SECONDS. A
listener that raises is logged once and dropped; the others and the playing go on.

What a take keeps:
- received: only what the input gate kept, and of that only note on/off, control changes
  and pitch bend (never clock, transport or sysex);
- sent: the answer's messages. The scheduler also sends the copies of the player's notes
  (thru), with no due time; a message with no due time counts as the answer's only when it
  ends something the answer has sounding: the note-off of one of its notes, the pedal it
  holds, an all-notes-off on a channel it plays (a panic, a barge-in's cut).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from antiphon.daemon.record.take_events import (
    ALL_NOTES_OFF,
    ALL_SOUND_OFF,
    ANSWER,
    ANSWER_START,
    CALL,
    SETTINGS,
    SUSTAIN_PEDAL,
    TEMPO,
    TakeEvent,
    controller,
    is_note_off,
    is_note_on,
    kept_message,
)

log = logging.getLogger(__name__)

THREAD_NAME = "antiphon-recorder"
QUEUE_LIMIT = 20_000  # items waiting for the thread; minutes of the densest playing
BATCH_LIMIT = 2_000  # items handed on at once, so a backlog reaches the web page in pieces
FLUSH_SECONDS = 0.5  # each listener's flush, at least this often (a crash loses at most it)
# A followed clock's tempo wavers by a few hundredths of a BPM between two polls; a change
# smaller than this share of the tempo is not one (0.24 BPM at 120).
TEMPO_CHANGE = 0.002
SHED_REPORT_SECONDS = 30.0  # what was shed is logged at most this often
_STOP = object()


class FeedListener(Protocol):
    """Who the feed hands the take to (the journal, the web page); called on its thread."""

    def take_events(self, events: Sequence[TakeEvent]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class TakeFeed:
    """The daemon's taps on one side, the listeners on the other (module docstring)."""

    def __init__(self, listeners: Sequence[FeedListener], *,
                 now: Callable[[], float] = time.perf_counter) -> None:
        self._listeners = list(listeners)
        self._now = now
        self.started = now()  # the take's seconds 0, in perf_counter seconds
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._shed = 0
        self._shed_said = 0  # what the log has said of it
        self._shed_said_at = -math.inf
        # What the answer has sounding, so its releases sent with no due time (a panic, a
        # barge-in's cut) are told from thru's: (channel, pitch), and channels it pedals.
        self._answer_notes: set[tuple[int, int]] = set()
        self._answer_pedals: set[int] = set()
        self._tempo: tuple[float, str] | None = None
        self._settings: dict | None = None

    @property
    def shed(self) -> int:
        """Items dropped because QUEUE_LIMIT were waiting."""
        return self._shed

    @property
    def listeners(self) -> tuple[FeedListener, ...]:
        """The listeners still fed (one that raised was dropped)."""
        return tuple(self._listeners)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the take feed was started already")
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Hand on what waits, flush and close every listener, end the thread. A feed never
        started does the same on the caller's thread. A second call does nothing."""
        if self._closing:
            return
        self._closing = True
        self._queue.put(_STOP)
        if self._thread is None:
            self._run()
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the recorder's thread did not end within %.1f s; the take may "
                        "lack its end", timeout)

    # --- the taps: cheap, never blocking, never raising -------------------------------

    def received(self, arrived: float, message: Sequence[int], kept: bool) -> None:
        """A message the input delivered (the reader thread); kept: the gate took it."""
        try:
            if kept and kept_message(message) and math.isfinite(arrived):
                self._put(float(arrived), CALL, tuple(message))
        except Exception:  # noqa: BLE001 (a tap must never stop the reader)
            pass

    def sent(self, due: float | None, message: Sequence[int]) -> None:
        """A message the scheduler sent (its lock held); due None: sent at once."""
        try:
            if self._answers(due, message):
                self._put(self._now(), ANSWER, tuple(message))
        except Exception:  # noqa: BLE001 (a tap must never stop the scheduler)
            pass

    def answer(self, began: float, now: float, due: float, keeps: str) -> None:
        """An answer begun (the interaction loop): when the call's end was decided, when its
        first note was scheduled, when that note is due, and the rules it keeps."""
        try:
            if math.isfinite(began) and math.isfinite(due):
                self._put(float(began), ANSWER_START, (float(due), str(keeps)))
        except Exception:  # noqa: BLE001
            pass

    def tempo(self, bpm: float, clock: str) -> None:
        """The tempo and the clock followed, told every serve poll: only changes are kept."""
        try:
            if not math.isfinite(bpm) or bpm <= 0:
                return
            last = self._tempo
            if last is not None and last[1] == clock and \
                    abs(bpm - last[0]) <= TEMPO_CHANGE * last[0]:
                return
            self._tempo = (float(bpm), str(clock))
            self._put(self._now(), TEMPO, self._tempo)
        except Exception:  # noqa: BLE001
            pass

    def settings(self, settings: Mapping[str, Any]) -> None:
        """Who answers with what (model, temperature, ...): at the start and on a change."""
        try:
            copied = dict(settings)
            if copied != self._settings:
                self._settings = copied
                self._put(self._now(), SETTINGS, copied)
        except Exception:  # noqa: BLE001
            pass

    def _put(self, seconds: float, kind: str, payload: Any) -> None:
        if self._closing:
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            self._shed += 1
            return
        self._queue.put((seconds, kind, payload))

    def _answers(self, due: float | None, message: Sequence[int]) -> bool:
        """Whether a sent message is the answer's, keeping track of what the answer sounds.
        Runs under the scheduler's lock, so these sets change one message at a time."""
        if not kept_message(message):
            return False
        channel = message[0] & 0x0F
        if is_note_on(message):
            if due is None:
                return False  # thru
            self._answer_notes.add((channel, message[1]))
            return True
        if is_note_off(message):
            key = (channel, message[1])
            if key in self._answer_notes:
                self._answer_notes.discard(key)
                return True
            return due is not None
        number = controller(message)
        plays_here = channel in self._answer_pedals or \
            any(played == channel for played, _ in self._answer_notes)
        if number == SUSTAIN_PEDAL:
            if due is None and not plays_here:
                return False
            if message[2] >= 64:
                self._answer_pedals.add(channel)
            else:
                self._answer_pedals.discard(channel)
            return True
        if number in (ALL_NOTES_OFF, ALL_SOUND_OFF):
            if due is None and not plays_here:
                return False
            self._answer_notes = {key for key in self._answer_notes if key[0] != channel}
            return True
        return due is not None

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        next_flush = time.monotonic() + FLUSH_SECONDS
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=max(0.0, next_flush - time.monotonic()))
            except queue.Empty:
                item = None
            batch = []
            while item is not None:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(self._event(*item))
                if len(batch) >= BATCH_LIMIT:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if batch:
                self._call_each("take_events", tuple(batch))
            if stopping or time.monotonic() >= next_flush:
                self._call_each("flush")
                next_flush = time.monotonic() + FLUSH_SECONDS
                self._say_shed(stopping)
        self._call_each("close")

    def _say_shed(self, now_or_never: bool) -> None:
        """Log what the taps shed since last said, at most every SHED_REPORT_SECONDS."""
        shed = self._shed
        if shed == self._shed_said:
            return
        if not now_or_never and time.monotonic() < self._shed_said_at + SHED_REPORT_SECONDS:
            return
        log.warning("the take lost %d events (its listeners fell %d events behind); playing "
                    "goes on", shed - self._shed_said, QUEUE_LIMIT)
        self._shed_said = shed
        self._shed_said_at = time.monotonic()

    def _event(self, at: float, kind: str, payload: Any) -> TakeEvent:
        seconds = max(0.0, at - self.started)
        if kind in (CALL, ANSWER):
            return TakeEvent(seconds, kind, payload)
        if kind == ANSWER_START:
            due, keeps = payload
            return TakeEvent(seconds, kind, (), {"due": round(max(0.0, due - self.started), 6),
                                                 "keeps": keeps})
        if kind == TEMPO:
            return TakeEvent(seconds, kind, (), {"bpm": payload[0], "clock": payload[1]})
        return TakeEvent(seconds, SETTINGS, (), {str(key): _plain(value)
                                                 for key, value in payload.items()})

    def _call_each(self, method: str, *arguments: Any) -> None:
        for listener in list(self._listeners):
            try:
                getattr(listener, method)(*arguments)
            except Exception as err:  # noqa: BLE001 (one listener must not stop the others)
                self._listeners.remove(listener)
                log.warning("the take listener %s failed in %s and is dropped (%s: %s); "
                            "playing goes on", type(listener).__name__, method,
                            type(err).__name__, err, exc_info=True)


def _plain(value: Any) -> Any:
    """A settings value as JSON can hold it (a path or an enum as its text)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)
