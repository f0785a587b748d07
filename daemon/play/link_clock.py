"""Ableton Link: tempo and beat phase shared with the peers of a Link session, on this
machine or the local network. The clock is a `Clock`: the scheduler and the phrase
detector ask it for beats and seconds as they ask the internal one, and never know which
they have.

Link's quantum is the bar (`quantum` beats, 4 by default), so Antiphon's beats are Link's
beats for this app: beat 0 mod 4 is the session's bar line, shared by every peer, and an
answer on "the next bar" lands on the band's. A tempo set here (`antiphon set bpm`) is
proposed to the session, and a tempo set by any peer comes back here.

Reading Link costs under a microsecond, but its beats are only at "now" (aalink offers no
beat at a given host time) and on Link's own host clock. So a thread of ours samples the
session's beat at a perf_counter moment (the midpoint of a read bracketed by two
perf_counter calls: a microsecond wide) and its tempo, REFRESH_HZ times a second, and
stores them as the clock's anchor; everything else is the internal clock's arithmetic on
that one immutable tuple (thread-safe without a lock). Re-anchoring that often also
absorbs the drift between Link's host clock (CLOCK_MONOTONIC_RAW on Linux) and
perf_counter (CLOCK_MONOTONIC, which NTP slews): an anchor is never older than a refresh.

aalink is asyncio-based (a Link needs a running event loop when it is made), so the thread
runs one of its own; aalink is imported only here, when a Link clock is asked for: Link's
discovery is the one network traffic Antiphon makes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from antiphon.daemon.play.clock import Clock, _check_bpm

log = logging.getLogger(__name__)

LINK_MISSING = "--clock link needs the aalink package: pip install 'antiphon[link]'"
REFRESH_HZ = 100  # anchor refreshes a second: a peer's tempo change is followed within 10 ms
WIDEST_READ_SECONDS = 50e-6  # a read bracketed wider than this was interrupted: read again
READ_TRIES = 5
START_TIMEOUT_SECONDS = 5.0


def import_aalink():  # noqa: ANN201 (the aalink module)
    """aalink, or an OSError that says how to install it."""
    try:
        import aalink
    except ImportError as err:
        raise OSError(LINK_MISSING) from err
    return aalink


class LinkClock(Clock):
    """A Clock on an Ableton Link session; `bpm` is the tempo it proposes until it meets
    peers (a session it joins keeps its own tempo). `close()` leaves the session."""

    def __init__(self, bpm: float, quantum: float = 4.0) -> None:
        _check_bpm(bpm)
        aalink = import_aalink()
        super().__init__(bpm)
        self.quantum = quantum
        self.peers = 0  # other apps in the session, as of the last refresh
        self.error: BaseException | None = None  # why the refresh thread ended, if it did
        self._link = None
        self._link_lock = threading.Lock()  # the link is dropped on close while others call it
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(aalink, bpm),
                                        name="link-clock", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECONDS) or self.error is not None:
            self.close()
            raise OSError(f"Ableton Link did not start: {self.error or 'no answer'}")

    # -- what the daemon asks -----------------------------------------------------------------
    def set_bpm(self, bpm: float, at_seconds: float | None = None) -> None:
        """Propose `bpm` to the session (from now on: Link changes tempo at the moment it is
        told, so `at_seconds` is not used); every peer follows."""
        _check_bpm(bpm)
        with self._link_lock:
            if self._link is None:
                raise OSError("the Link session is closed")
            self._link.tempo = bpm
            self._refresh(self._link)

    def close(self) -> None:
        """Leave the session and end the refresh thread (blocking, briefly)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(START_TIMEOUT_SECONDS)

    # -- the refresh thread -------------------------------------------------------------------
    def _run(self, aalink, bpm: float) -> None:  # noqa: ANN001 (the aalink module)
        try:
            asyncio.run(self._serve(aalink, bpm))
        except Exception as err:  # noqa: BLE001 (said: at start by __init__, later in the log)
            self.error = err
            if self._ready.is_set():
                log.error("Link: stopped following the session (its last tempo kept): %s", err)
        finally:
            self._ready.set()

    async def _serve(self, aalink, bpm: float) -> None:  # noqa: ANN001 (the aalink module)
        link = aalink.Link(bpm)  # takes this thread's running loop for its callbacks
        link.quantum = self.quantum
        link.enabled = True
        with self._link_lock:
            self._link = link
            self._refresh(link)
        self._ready.set()
        try:
            while not self._stop.is_set():
                await asyncio.sleep(1.0 / REFRESH_HZ)
                with self._link_lock:
                    self._refresh(link)
        finally:
            with self._link_lock:
                self._link = None
                link.enabled = False
            del link  # its threads end here, on the thread that made it

    def _refresh(self, link) -> None:  # noqa: ANN001 (an aalink.Link)
        """Anchor the clock at the session's beat now (called with the link lock held)."""
        for _ in range(READ_TRIES):
            before = time.perf_counter()
            beat = link.beat
            after = time.perf_counter()
            if after - before <= WIDEST_READ_SECONDS:
                break
        self.reanchor((before + after) / 2, beat, 60.0 / link.tempo)
        peers = link.num_peers
        if peers != self.peers:
            self.peers = peers
            log.info("Link: %d other peer%s in the session, %.1f BPM", peers,
                     "" if peers == 1 else "s", self.bpm)
