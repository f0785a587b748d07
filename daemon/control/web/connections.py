"""The web page's connections, watched: few, and none held by a client that sends nothing.

The page listens on 127.0.0.1, where any local program may connect, token or not (the
token is checked once a request's headers are in). aiohttp waits for a request's headers
for as long as the client likes, so a program that opens connections and never finishes
a request (a slow client, a slowloris) would hold the daemon's file descriptors until it
has none left for its MIDI ports, its journal or a model. So:

- a connection with no request in hand (it never sent one whole, or its last one was
  answered) for IDLE_SECONDS is closed; the event streams are requests in hand, and stay;
- past MAX_CONNECTIONS, each new connection closes the one that has been idle longest.

`ConnectionWatch` is the server's protocol factory (it wraps aiohttp's) and is told by the
server's middleware when a request begins and ends. `ServerLog` is aiohttp's log of the
requests it could not take: a request that is not HTTP is one line at debug (a browser
never sends one; a program that does gets its 400), a handler that failed one warning,
never a traceback in the daemon's output.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp.http import HttpProcessingError

log = logging.getLogger(__name__)

IDLE_SECONDS = 15.0  # a connection with no request in hand is closed after this
MAX_CONNECTIONS = 64  # the page's own (16 streams, their requests) with room to spare
SWEEP_SECONDS = 0.25  # how often the idle connections are looked for (at most)


class _Connection:
    __slots__ = ("in_hand", "since", "seen", "doomed")

    def __init__(self) -> None:
        self.in_hand = 0  # requests being handled
        self.since = time.monotonic()  # when it last had none
        self.seen = False  # its transport was seen: gone again, the connection is over
        self.doomed = False  # to be closed as soon as it is connected

    def see(self) -> None:
        self.seen = True

    def doom(self) -> None:
        self.doomed = True


class ConnectionWatch:
    """asyncio's protocol factory for the page's listener: aiohttp's, with each connection
    noted (module docstring)."""

    def __init__(self, factory: Callable[[], asyncio.Protocol]) -> None:
        self._factory = factory
        self._open: dict[Any, _Connection] = {}  # each connection's aiohttp handler
        self.closed = 0  # connections closed for being idle or to make room

    @property
    def connections(self) -> int:
        self._forget_lost()
        return len(self._open)

    def __call__(self) -> asyncio.Protocol:
        handler = self._factory()
        self._forget_lost()
        if len(self._open) >= MAX_CONNECTIONS:
            self._close_idlest()
        self._open[handler] = _Connection()
        return handler

    def begin(self, handler: Any) -> None:
        """A request's headers are in: the connection is in use."""
        connection = self._open.get(handler)
        if connection is not None:
            connection.in_hand += 1

    def end(self, handler: Any) -> None:
        connection = self._open.get(handler)
        if connection is not None:
            connection.in_hand = max(0, connection.in_hand - 1)
            connection.since = time.monotonic()

    async def sweep(self) -> None:
        """Close what has been idle too long, for as long as the server runs."""
        while True:
            await asyncio.sleep(min(SWEEP_SECONDS, IDLE_SECONDS / 2))
            self._forget_lost()
            now = time.monotonic()
            for handler, connection in list(self._open.items()):
                if connection.doomed or (not connection.in_hand and
                                         now - connection.since > IDLE_SECONDS):
                    self._close(handler)

    def _close_idlest(self) -> None:
        idle = [(connection.since, id(handler), handler)
                for handler, connection in self._open.items()
                if not connection.in_hand and not connection.doomed]
        if idle:
            self._close(min(idle)[2])

    def _close(self, handler: Any) -> None:
        transport = getattr(handler, "transport", None)
        if transport is None:  # accepted, not connected yet (a burst): the sweep will
            self._open[handler].doom()
            return
        del self._open[handler]
        self.closed += 1
        if transport.get_write_buffer_size():
            transport.abort()  # a reader that stalled: at once, its descriptor is short
        else:
            transport.close()  # a browser's idle keep-alive learns it is closed (FIN)

    def _forget_lost(self) -> None:
        lost = []
        for handler, connection in self._open.items():
            connected = getattr(handler, "transport", None) is not None
            if connected:
                connection.see()
            elif connection.seen or time.monotonic() - connection.since > 2 * IDLE_SECONDS:
                lost.append(handler)  # closed, or never connected at all
        for handler in lost:
            del self._open[handler]


class ServerLog(logging.LoggerAdapter):
    """aiohttp's server log (its `logger=`), with no traceback in it (module docstring)."""

    def __init__(self) -> None:
        super().__init__(log, {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc_info = kwargs.pop("exc_info", None)
        err = exc_info if isinstance(exc_info, BaseException) else \
            sys.exc_info()[1] if exc_info else None
        if err is None:
            self.logger.log(level, msg, *args, **kwargs)
            return
        said = " ".join(str(err).split())[:200]
        if isinstance(err, HttpProcessingError):
            self.logger.debug("the web page refused a request that is not HTTP: %s", said)
            return
        self.logger.warning("the web page failed on a request: %s%s", type(err).__name__,
                            f": {said}" if said else "")
