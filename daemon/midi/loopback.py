"""In-process MIDI ports: what one side sends, the other side's callback receives at once.

They satisfy the same `MidiInput` / `MidiOutput` interfaces as the rtmidi ports, so the demo
on a machine without a MIDI system (and the unit tests) run the very same interaction loop
and scheduler; only the bytes travel through a function call instead of a MIDI server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from antiphon.daemon.midi.ports import MessageCallback


class LoopbackInput:
    """The receiving end; delivers each message on the sender's thread, like a port callback."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callback: MessageCallback | None = None

    def set_receiver(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def deliver(self, message: Sequence[int]) -> None:
        arrived = time.perf_counter()
        callback = self._callback
        if callback is not None:
            callback(arrived, list(message))

    def close(self) -> None:
        self._callback = None


class LoopbackOutput:
    """The sending end, wired to one LoopbackInput."""

    def __init__(self, name: str, target: LoopbackInput) -> None:
        self.name = name
        self._target = target
        self._lock = threading.Lock()
        self._closed = False

    def send(self, message: Sequence[int]) -> None:
        with self._lock:
            if self._closed:
                raise OSError(f"MIDI output {self.name!r} is closed")
            self._target.deliver(message)

    def close(self) -> None:
        with self._lock:
            self._closed = True


def loopback_pair(name: str) -> tuple[LoopbackOutput, LoopbackInput]:
    """A connected (output, input) pair named `name`."""
    receiver = LoopbackInput(name)
    return LoopbackOutput(name, receiver), receiver


class MessageRecorder:
    """A callback that keeps every message with its arrival time (the demo and tests listen
    to Antiphon's output with it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[tuple[float, list[int]]] = []

    def __call__(self, arrived: float, message: list[int]) -> None:
        with self._lock:
            self._messages.append((arrived, list(message)))

    def messages(self) -> list[tuple[float, list[int]]]:
        with self._lock:
            return list(self._messages)
