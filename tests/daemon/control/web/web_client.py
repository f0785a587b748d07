"""Plain HTTP against a running WebPage, as a browser would ask: requests with or without
the token, and a reader of its server-sent events over a socket of its own."""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any


def get(port: int, path: str, *, token: str | None = None, host: str | None = None,
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    """GET path -> (status, headers, body); `token` goes in the X-Antiphon-Token header."""
    return request(port, "GET", path, token=token, host=host, headers=headers)


def post_json(port: int, path: str, body: Any, *, token: str | None,
              headers: dict | None = None) -> tuple[int, Any]:
    status, _, answer = request(port, "POST", path, token=token, body=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(answer) if answer.startswith(b"{") else answer


def request(port: int, method: str, path: str, *, token: str | None = None,
            host: str | None = None, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{port}" if host is None else host)
        for name, value in ({"X-Antiphon-Token": token} if token else {}).items():
            connection.putheader(name, value)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class EventStream:
    """/events read as a browser's EventSource would, over HTTP/1.0 (no chunks): each
    event as (name, data parsed from JSON, perf_counter time it was read)."""

    def __init__(self, port: int, token: str, *, receive_buffer: int | None = None,
                 timeout: float = 5.0) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # a browser that stops reading stalls sooner
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.settimeout(timeout)
        self.socket.connect(("127.0.0.1", port))
        self.socket.sendall(f"GET /events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
                            f"X-Antiphon-Token: {token}\r\n\r\n".encode())
        self._buffer = bytearray()
        self._searched = 0  # where the next search for a separator starts
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    def _until(self, separator: bytes) -> bytes:
        while (end := self._buffer.find(separator, self._searched)) < 0:
            self._searched = max(0, len(self._buffer) - len(separator) + 1)
            chunk = self.socket.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the server closed the stream")
            self._buffer += chunk
        part = bytes(self._buffer[:end])
        del self._buffer[:end + len(separator)]
        self._searched = 0
        return part

    def next(self) -> tuple[str, Any, float]:
        """The next event (a comment or a retry line alone is skipped)."""
        while True:
            block = self._until(b"\n\n").decode()
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "data" in fields:
                return fields.get("event", "message"), json.loads(fields["data"]), \
                    time.perf_counter()

    def wait_for(self, name: str, timeout: float = 5.0) -> tuple[Any, float]:
        """The data of the next event called `name` (others skipped) and when it came."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            event, data, at = self.next()
            if event == name:
                return data, at
        raise TimeoutError(f"no {name!r} event within {timeout} s")

    def close(self) -> None:
        self.socket.close()
