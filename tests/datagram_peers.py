"""Datagram sockets the tests read from a thread of their own: an OSC client (`OscPeer`,
which sends to Antiphon's OSC server and collects what comes back: the server answers to
the sender's address) and the base both it and the service manager's notify socket of the
service tests share (`DatagramReader`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder


class DatagramReader:
    """Every datagram that reaches `sock` (bound), parsed by `parse`, in `received`."""

    def __init__(self, sock: socket.socket, parse: Callable[[bytes], Any]) -> None:
        self.socket = sock
        self.socket.settimeout(0.1)
        self.received: list = []
        self._parse = parse
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
            self.received.append(self._parse(data))

    def close(self) -> None:
        self._closed.set()
        self.socket.close()
        self._thread.join(2)


def osc_message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class OscPeer(DatagramReader):
    """An OSC client: `received` holds (address, params) of each message that came back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        super().__init__(sock, _address_and_params)

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


def _address_and_params(datagram: bytes) -> tuple[str, list]:
    message = OscMessage(datagram)
    return message.address, list(message.params)
