"""Whether the MIDI system is there: what the edge's keeper (edge.py) asks before it closes
every port, and while it waits for the system to come back.

Taking a live system for a dead one costs every connection that others made to Antiphon's
ports, so "gone" needs proof, and a lack of CPU is no proof:

- on JACK, the input's reader probes its own port (reader.py). Silence there is a suspicion
  only once the reader itself watched it: probes sent, and the queue found empty a second
  later, by the reader's own clock (`InputReader.silence_proven`). Threads of ours that did
  not run (a flood of work, a process stopped and resumed) have watched nothing. A
  suspicion is then put to the server over the connection the links client already holds
  (`JackLinks.answers`: a request a dead server fails at once); a server that answers is
  there, whatever the probe says. No client is opened to ask: libjack crashes when a client
  opens while clients of a dead server live;
- elsewhere the system is asked every `SYSTEM_CHECK_SECONDS` (`backends.system_alive`).

While the system is gone it is asked for again every half `SYSTEM_CHECK_SECONDS` (every
client of ours is closed by then), until `reconnect_timeout` has passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from antiphon.daemon.midi.backends import system_alive

log = logging.getLogger(__name__)

LOST_AFTER_SECONDS = 1.0  # probes unanswered this long, as the reader watched: a suspicion
SYSTEM_CHECK_SECONDS = 1.0  # how often an unprobed system is asked whether it is there


class ProbedReader(Protocol):
    """What the watch needs of an input's reader (reader.InputReader)."""

    def silence_proven(self, seconds: float) -> bool: ...


class SystemWatch:
    """The keeper's judge of the MIDI system. `clock` and `ask` (whether the system is
    there, asked with no client of ours alive) are replaceable for tests."""

    def __init__(self, backend: str, reconnect_timeout: float,
                 clock: Callable[[], float] = time.perf_counter,
                 ask: Callable[[str], bool] = system_alive) -> None:
        self.backend = backend
        self.reconnect_timeout = reconnect_timeout
        self._clock = clock
        self._ask = ask
        self.lost_since: float | None = None
        self.doubts = 0  # suspicions the server itself answered: the system was there
        self._last_check = float("-inf")
        self._last_confirm = float("-inf")
        self._doubting = False  # a doubt is logged once, until the probe answers again

    def gone(self, reader: ProbedReader | None, server_answers: Callable[[], bool] | None,
             ) -> bool:
        """While the system is thought there: whether it is gone now (then `lost_since` is
        set and the caller closes everything). `reader`: the probed input's reader, or None;
        `server_answers`: JACK's answer to a request, None where it cannot be asked."""
        now = self._clock()
        if self.backend == "jack":
            if reader is None or not reader.silence_proven(LOST_AFTER_SECONDS):
                self._doubting = False
                return False
            if server_answers is not None:
                if now - self._last_confirm < SYSTEM_CHECK_SECONDS / 2:
                    return False
                self._last_confirm = now
                if server_answers():
                    self._doubt()
                    return False
            log.error("the jack MIDI system stopped answering: closing the ports, waiting up "
                      "to %g s for it", self.reconnect_timeout)
        else:
            if now - self._last_check < SYSTEM_CHECK_SECONDS:
                return False
            self._last_check = now
            if self._ask(self.backend):
                return False
            log.error("the %s MIDI system is gone: closing the ports, waiting up to %g s for "
                      "it to return", self.backend, self.reconnect_timeout)
        self.lost_since = now
        self._last_check = now
        return True

    def _doubt(self) -> None:
        self.doubts += 1
        if not self._doubting:
            self._doubting = True
            log.warning("the input's probe has not come back for %g s, but the JACK server "
                        "answers: keeping the ports and their connections",
                        LOST_AFTER_SECONDS)

    def back(self) -> bool | None:
        """While the system is gone: True when it is back (`lost_since` cleared), None when
        it has been gone longer than `reconnect_timeout` (give up), else False."""
        now = self._clock()
        if now - self._last_check < SYSTEM_CHECK_SECONDS / 2:
            return False
        self._last_check = now
        if self._ask(self.backend):
            self.lost_since = None
            self._doubting = False
            return True
        if now - self.lost_since > self.reconnect_timeout:
            return None
        return False

    def relapse(self, lost_since: float) -> None:
        """The system answered `back`, yet could not be reopened: it is still gone, since
        `lost_since` (so `reconnect_timeout` still counts from the first loss)."""
        self.lost_since = lost_since
