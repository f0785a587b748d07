"""The take as it is played, for the web page: a listener of the take feed.

`LiveRoll` gets each batch of `TakeEvent`s on the feed's thread. It keeps the last few
minutes of them (bounded in time and in count), so a page that connects late still draws
what was just played, and hands the batch, as JSON rows, to the web server's asyncio loop
with `loop.call_soon_threadsafe`: one cheap call, never a wait for a browser. The latest
tempo, settings and answer start are kept however old they are: a page that comes in
during a long silence still knows the tempo, the model and the key. Batches are numbered
as they are kept, so a page that connects while the take goes on gets each event once:
in the history it is sent first, or after it, never both.

It is made before the daemon (the feed takes its listeners at construction) and needs
neither the Controller nor the server: the server attaches its loop when it starts and
detaches it when it stops; batches that come while none is attached are only kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

KEEP_SECONDS = 180.0  # how far back a page that connects late can draw
KEEP_EVENTS = 20_000  # and at most this many events (a flood of pitch bends is bounded)
# Kinds that say how things stand rather than what was played: the latest of each is kept
# beyond KEEP_SECONDS.
STANDING_KINDS = ("tempo", "settings", "answer_start")
END = "end"  # the row pushed when the take is over: {"t": ..., "kind": "end"}


class JsonEvent(Protocol):
    """A TakeEvent, as far as the page needs it."""

    seconds: float

    def as_json(self) -> dict: ...


class EventLoopLike(Protocol):
    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> Any: ...


Rows = list[dict]


class LiveRoll:
    """The recent events of the take being played, pushed to the web server's loop."""

    def __init__(self, *, keep_seconds: float = KEEP_SECONDS, keep_events: int = KEEP_EVENTS,
                 now: Callable[[], float] = time.perf_counter) -> None:
        self.keep_seconds = keep_seconds
        self._now = now
        self._lock = threading.Lock()
        self._recent: deque[dict] = deque(maxlen=keep_events)
        self._standing: dict[str, dict] = {}  # kind -> its latest row
        self._target: tuple[EventLoopLike, Callable[[Rows, int], None]] | None = None
        self._batches = 0  # batches kept so far: each is pushed with its number
        # The take's start on the `now` clock, as seen from here: each batch arrives after
        # its events happened, so the earliest (arrival - seconds) is the closest estimate.
        self._started: float | None = None
        self._said_failure = False
        self.closed = False

    # -- the feed's side (FeedListener) ----------------------------------------------------
    def take_events(self, events: Sequence[JsonEvent]) -> None:
        """Keep a batch and hand it to the server's loop (the feed's thread; never raises
        for a page, never waits for one)."""
        if not events:
            return
        arrived = self._now()
        rows = [event.as_json() for event in events]
        with self._lock:
            started = min(arrived - event.seconds for event in events)
            if self._started is None or started < self._started:
                self._started = started
            self._keep(rows)
            self._batches += 1
            number, target = self._batches, self._target
        if target is not None:
            self._push(target, rows, number)

    def flush(self) -> None:
        """Nothing to write out: every batch was handed on as it came."""

    def close(self) -> None:
        """The take is over: the pages are told so."""
        with self._lock:
            self.closed = True
            seconds = self._seconds_locked()
            self._batches += 1
            number, target = self._batches, self._target
        row = {"t": round(seconds or 0.0, 6), "kind": END}
        if target is not None:
            self._push(target, [row], number)

    # -- the server's side -----------------------------------------------------------------
    def attach(self, loop: EventLoopLike, callback: Callable[[Rows, int], None]) -> None:
        """From now on each batch goes to `callback(rows, number)`, called on `loop`; the
        batches are numbered 1, 2, ... in the order they were kept."""
        with self._lock:
            self._target = (loop, callback)

    def detach(self) -> None:
        with self._lock:
            self._target = None

    def recent(self) -> Rows:
        """What a page that connects now draws first: the latest tempo, settings and answer
        start however old, then every event of the last `keep_seconds`, in time order."""
        return self.snapshot()[0]

    def snapshot(self) -> tuple[Rows, int]:
        """`recent()` and the number of the last batch it holds: a batch pushed with a
        number up to that one is in it already (its push may still be on its way)."""
        with self._lock:
            rows, number = list(self._recent), self._batches
            first = rows[0]["t"] if rows else float("inf")
            standing = [row for row in self._standing.values() if row["t"] < first]
        standing.sort(key=lambda row: row["t"])
        return standing + rows, number

    def take_seconds(self) -> float | None:
        """Seconds since the take began, now (None before its first event came)."""
        with self._lock:
            return self._seconds_locked()

    # -- inside ----------------------------------------------------------------------------
    def _seconds_locked(self) -> float | None:
        return None if self._started is None else max(0.0, self._now() - self._started)

    def _keep(self, rows: Rows) -> None:
        self._recent.extend(rows)
        for row in rows:
            if row["kind"] in STANDING_KINDS:
                self._standing[row["kind"]] = row
        horizon = rows[-1]["t"] - self.keep_seconds
        while self._recent and self._recent[0]["t"] < horizon:
            self._recent.popleft()

    def _push(self, target: tuple[EventLoopLike, Callable[[Rows, int], None]], rows: Rows,
              number: int) -> None:
        loop, callback = target
        try:
            loop.call_soon_threadsafe(callback, rows, number)
        except RuntimeError as err:  # the loop closed while the server stops: kept only
            if not self._said_failure:
                self._said_failure = True
                log.debug("the web page's loop took no more events: %s", err)
