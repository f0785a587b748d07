"""A browser's worth of load on `antiphon run --web`, for `antiphon bench loop --recorder`:
the page's event stream (server-sent events) read as it comes, as an open page reads it,
by a thread of this process.

It counts what it read (the take's rows in the stream's events, and the answer's among
them), so the benchmark can say the pages were fed while it measured the daemon's
timing beside a run without the recorder and the page.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import urllib.parse

PAGE_ADDRESS = re.compile(r"web page (http://127\.0\.0\.1:\d+/\?token=\S+)")
CONNECT_TIMEOUT_SECONDS = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for the daemon's web page."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_address(output: list[str]) -> str:
    """The web page's address (with its token) from the daemon's ready line."""
    for line in output:
        if found := PAGE_ADDRESS.search(line):
            return found.group(1)
    raise RuntimeError("antiphon run did not say its web page's address:\n"
                       + "".join(output[-20:]))


class PageReader:
    """The live stream of the page at `address` (its token included), read until closed."""

    def __init__(self, address: str) -> None:
        parts = urllib.parse.urlsplit(address)
        token = urllib.parse.parse_qs(parts.query)["token"][0]
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port,
                                                      timeout=CONNECT_TIMEOUT_SECONDS)
        self._connection.request("GET", f"/events?token={urllib.parse.quote(token)}")
        self._response = self._connection.getresponse()
        if self._response.status != 200:
            self._connection.close()
            raise RuntimeError(f"the web page's stream answered {self._response.status}")
        # Reads wait as long as the stream is quiet; close() shuts the socket to end them
        # (a read that timed out once could not be read from again).
        self._connection.sock.settimeout(None)
        self.rows = 0  # the take's rows in them (notes, answer starts, tempo, settings)
        self.answer_rows = 0  # of those, the answer's messages
        self._thread = threading.Thread(target=self._read, name="bench-page-reader",
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        event = b""
        while True:
            try:
                line = self._response.readline()
            except (OSError, ValueError):  # the socket shut by close()
                return
            if not line:
                return  # the stream ended: closed here, or by the daemon
            if line.startswith(b"event:"):
                event = line[len(b"event:"):].strip()
            elif line.startswith(b"data:") and event in (b"take", b"history"):
                self._count(json.loads(line[len(b"data:"):]))

    def _count(self, data) -> None:
        """A `take` event's data is a list of rows; `history`'s, {"rows": [...]}."""
        rows = data.get("rows", []) if isinstance(data, dict) else data
        self.rows += len(rows)
        self.answer_rows += sum(1 for row in rows if row.get("kind") == "answer")

    def close(self) -> None:
        sock = self._connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the daemon closed it first
        self._thread.join(CONNECT_TIMEOUT_SECONDS)
        self._connection.close()
