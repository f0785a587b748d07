"""Another app in an Ableton Link session (a drum machine, a DAW): an aalink Link of its own,
on a thread running the asyncio loop aalink wants, for `antiphon bench clock` and the tests
to play the band that `antiphon run --clock link` joins.

Its grid is read as the daemon's clock reads it: the session's beat at a perf_counter
moment (the midpoint of a read bracketed by two perf_counter calls) and the tempo; with a
steady tempo that one sample is the whole grid.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

from antiphon.daemon.play.link_clock import WIDEST_READ_SECONDS, import_aalink

START_TIMEOUT_SECONDS = 5.0
# A peer enabled this long before another is the older session, whose tempo and bar the
# newcomer takes on joining. Link's rule: a session more than half a second older wins;
# closer than that, a coin toss decides. A session begins when a peer is enabled, and
# again when its last other peer leaves. On a loaded 2-core machine 0.6 s still went the
# other way about one time in eight; 1.2 s did not in twenty.
SETTLED_SESSION_SECONDS = 1.2


class LinkPeer:
    """A Link peer at `bpm`, its bar `quantum` beats; `close()` leaves the session."""

    def __init__(self, bpm: float, quantum: float = 4.0) -> None:
        self._aalink = import_aalink()
        self.quantum = quantum
        self._link = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(bpm)),
                                        name="link-peer", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECONDS) or self._link is None:
            raise OSError("the Link peer did not start")

    async def _serve(self, bpm: float) -> None:
        link = self._aalink.Link(bpm)  # takes this thread's running loop
        link.quantum = self.quantum
        link.enabled = True
        self._link = link
        self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.02)
        link.enabled = False

    @property
    def tempo(self) -> float:
        return self._link.tempo

    @tempo.setter
    def tempo(self, bpm: float) -> None:
        self._link.tempo = bpm

    @property
    def peers(self) -> int:
        """The other apps in the session."""
        return self._link.num_peers

    def sample(self) -> tuple[float, float]:
        """(a perf_counter moment, the peer's beat then)."""
        while True:
            before = time.perf_counter()
            beat = self._link.beat
            after = time.perf_counter()
            if after - before <= WIDEST_READ_SECONDS:
                return (before + after) / 2, beat

    def beat_times(self, start: float, end: float) -> list[float]:
        """The perf_counter moments of the peer's beats from `start` to `end` (seconds), at
        its present tempo."""
        at, beat = self.sample()
        seconds_per_beat = 60.0 / self.tempo
        first = math.ceil(beat + (start - at) / seconds_per_beat)
        last = math.floor(beat + (end - at) / seconds_per_beat)
        return [at + (number - beat) * seconds_per_beat for number in range(first, last + 1)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(START_TIMEOUT_SECONDS)
