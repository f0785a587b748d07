"""The reader thread of an input port: takes what waits in rtmidi's queue, off the MIDI
system's realtime thread, and hands on whole messages with the time they arrived.

Timestamps come from the MIDI system: rtmidi stamps each message with the time since the
one before it, taken in the MIDI system's own input cycle. The reader chains those deltas
onto the moment it first saw the stream, so a message keeps the time it arrived however
late the reader got to it (a busy core, a burst). Two bounds keep the chain honest over
hours: a message never arrived after the reader took it, and a message that found the
queue empty arrived after the reader last looked.

The reader also keeps the input from going deaf. A sysex that never ends (`F0 7E 7F`) makes
rtmidi glue everything after it into one endless message; the reader's probe, a lone F7
sent into this same port whenever it has heard nothing for `PROBE_SECONDS`, ends such a
sysex, and the parser recovers the notes that were glued behind it. A probe that comes
back also proves the whole path through the MIDI system works; one that does not is
evidence against it only once this reader has looked at its queue long after sending it
(`silence_proven`): a reader that did not get to run (a busy core, a process stopped and
resumed) has seen nothing, and proves nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from antiphon.daemon.midi.wire import StreamParser

log = logging.getLogger(__name__)

POLL_SECONDS = 0.001  # how often the queue is read: a message waits at most this long
PROBE_SECONDS = 0.1  # silence after which a probe is sent (and a stuck sysex ended)
BATCH_LIMIT = 256  # messages taken before the reader looks at its stop flag again
CYCLE_SLACK_SECONDS = 0.02  # how far a MIDI system's stamp may precede the reader's look

# (bytes, seconds since the previous message) as rtmidi's get_message returns it.
RawMessage = tuple[list[int], float]
Deliver = Callable[[float, list[int]], None]


@dataclass
class ReaderStats:
    messages: int = 0  # whole messages handed on (probes not counted)
    chunks: int = 0  # what rtmidi delivered
    probes_sent: int = 0
    last_heard: float = 0.0  # perf_counter when anything last came in (a probe counts)
    last_looked: float = 0.0  # when the reader last found the queue empty
    unanswered_since: float | None = None  # the first probe sent since anything came in
    unanswered_probes: int = 0  # probes sent since anything came in


class InputReader:
    """Polls `poll` (rtmidi's get_message) on a thread and calls `deliver(arrived, bytes)`
    for every whole message; `probe` (or None) sends one F7 into the same input."""

    def __init__(self, name: str, poll: Callable[[], RawMessage | None], deliver: Deliver,
                 probe: Callable[[], None] | None = None) -> None:
        self.name = name
        self._poll = poll
        self._deliver = deliver
        self._probe = probe
        self._parser = StreamParser()
        self._stop = threading.Event()
        self._last_stamp: float | None = None
        self.stats = ReaderStats(last_heard=time.perf_counter())
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"antiphon-reader {name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread; False if it is still running after `timeout` (its port must
        then not be deleted under it)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive() or self._thread is threading.current_thread()

    def heard_within(self, seconds: float) -> bool:
        """Whether anything (a message, or a probe back) came in during the last `seconds`."""
        return time.perf_counter() - self.stats.last_heard < seconds

    def silence_proven(self, seconds: float) -> bool:
        """Whether probes went unanswered while this reader watched: two at least, and the
        queue found empty `seconds` after the first of them was sent. Every moment here is
        the reader's own reading, taken as it ran: a starved reader proves no silence."""
        stats = self.stats
        since = stats.unanswered_since
        return (since is not None and stats.unanswered_probes >= 2
                and stats.last_looked - since >= seconds)

    @property
    def parser_stats(self):
        return self._parser.stats

    def _run(self) -> None:
        try:
            self._read_until_stopped()
        except Exception as err:  # a bug or a dead library: the daemon sees it and exits
            log.exception("input reader of %r crashed", self.name)
            self.error = err

    def _read_until_stopped(self) -> None:
        perf_counter = time.perf_counter
        last_probe = 0.0
        looked = perf_counter()  # when the queue was last found empty
        while not self._stop.is_set():
            now = perf_counter()
            raw = self._poll()
            if raw is None:
                if self._probe is not None and now - self.stats.last_heard >= PROBE_SECONDS \
                        and now - last_probe >= PROBE_SECONDS:
                    self._probe()
                    self.stats.probes_sent += 1
                    self.stats.unanswered_probes += 1
                    if self.stats.unanswered_since is None:
                        self.stats.unanswered_since = now
                    last_probe = now
                looked = self.stats.last_looked = now
                self._stop.wait(POLL_SECONDS)
                continue
            taken = 0
            while raw is not None:
                self._take(raw, now, looked)
                looked = float("-inf")  # the rest of a burst waited in the queue
                taken += 1
                if taken >= BATCH_LIMIT:  # a flood: look at the stop flag now and then
                    break
                raw = self._poll()
            self.stats.last_heard = now
            self.stats.unanswered_since, self.stats.unanswered_probes = None, 0
            looked = perf_counter()

    def _take(self, raw: RawMessage, now: float, looked: float) -> None:
        chunk, delta = raw
        self.stats.chunks += 1
        if self._last_stamp is None:
            stamp = now
        else:
            stamp = min(now, self._last_stamp + max(0.0, delta))
            stamp = max(stamp, looked - CYCLE_SLACK_SECONDS)
        self._last_stamp = stamp
        for message in self._parser.feed(chunk):
            self.stats.messages += 1
            self._deliver(stamp, list(message))
