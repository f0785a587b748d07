"""The pages connected to the web page's event stream, each with a bounded queue.

The server's loop puts each message (a batch of take events, a status) on every page's
queue and never waits: a page whose queue is full has stopped reading (or cannot keep up),
and is cut off, its connection closed at once. So one stalled browser costs at most its
queue and its socket's buffer, and the others go on as if it were not there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

BROWSER_QUEUE_LIMIT = 200  # messages a page may fall behind (the feed sends ~50 a second)
# The kernel's buffer for one page's stream: seconds of events, not the megabytes a
# loopback socket grows to, so a page that stopped reading is found out and costs little.
STREAM_SEND_BUFFER = 128 * 1024


def sse(event: str, data: Any) -> bytes:
    """One server-sent event: `event: NAME` and its data as one line of JSON."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Browser:
    """One page's event stream: what is still to be sent to it, and how to cut it off."""

    def __init__(self, task: asyncio.Task, transport: asyncio.BaseTransport | None,
                 has_batches_to: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(BROWSER_QUEUE_LIMIT)
        self.task = task
        self.transport = transport
        self.has_batches_to = has_batches_to  # the live batches its history held already

    def cut(self) -> None:
        """Drop it now: its handler stops, its connection closes without flushing what its
        socket still holds (a browser that does not read would hold it for ever)."""
        self.task.cancel()
        if self.transport is not None:
            self.transport.abort()


def broadcast(browsers: set[Browser], message: bytes, number: int | None = None) -> int:
    """`message` to every page (batch `number` only to those that do not hold it yet);
    a page that fell BROWSER_QUEUE_LIMIT messages behind is cut off and left out of
    `browsers`. Returns how many were."""
    cut = 0
    for browser in list(browsers):
        if number is not None and number <= browser.has_batches_to:
            continue
        try:
            browser.queue.put_nowait(message)
        except asyncio.QueueFull:
            browsers.discard(browser)
            cut += 1
            log.info("a web page fell %d messages behind (it stopped reading): dropped",
                     BROWSER_QUEUE_LIMIT)
            browser.cut()
    return cut
