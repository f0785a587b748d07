"""An OSC client for the tests: one UDP socket that sends to Antiphon's OSC server and
collects every message that comes back to it (the server answers to the sender's address).
Read by a thread of its own."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder


def osc_message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class OscPeer:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = self.socket.getsockname()[1]
        self.received: list[tuple[str, list]] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            message = OscMessage(data)
            self.received.append((message.address, list(message.params)))

    def send(self, address: str, *args) -> int:
        """Send a message; returns how many messages had come back before it."""
        return self.send_raw(osc_message(address, *args))

    def send_raw(self, datagram: bytes) -> int:
        before = len(self.received)
        self.socket.sendto(datagram, self.target)
        return before

    def wait_for(self, address: str, after: int = 0, timeout: float = 5.0,
                 where=lambda params: True) -> list:
        """The params of the first `address` message from index `after` on that `where`
        accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, params in list(self.received)[after:]:
                if name == address and where(params):
                    return params
            time.sleep(0.01)
        pytest.fail(f"no {address} came back; the server sent {self.received[after:]}")

    def names(self, after: int = 0) -> list[str]:
        return [name for name, _ in list(self.received)[after:]]

    def close(self) -> None:
        self._closed.set()
        self.socket.close()
        self._thread.join(2)
