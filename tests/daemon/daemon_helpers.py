"""Small helpers shared by the daemon's unit tests."""

from __future__ import annotations

import json
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from antiphon.daemon.midi.loopback import LoopbackOutput, MessageRecorder, loopback_pair


def recording_output(name: str = "test out") -> tuple[LoopbackOutput, MessageRecorder]:
    """An output port whose messages land, timestamped, in a recorder."""
    output, receiver = loopback_pair(name)
    recorder = MessageRecorder()
    receiver.set_receiver(recorder)
    return output, recorder


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return condition()


def unmatched_note_ons(messages: Iterable[Sequence[int]]) -> dict[tuple[int, int], int]:
    """(channel, pitch) -> note-ons without a note-off after them; also asserts that no
    note-off comes for a note that does not sound (the output is well-formed)."""
    sounding: dict[tuple[int, int], int] = defaultdict(int)
    for message in messages:
        status, key = message[0] & 0xF0, (message[0] & 0x0F, message[1])
        if status == 0x90 and message[2] > 0:
            sounding[key] += 1
        elif status in (0x80, 0x90):
            assert sounding[key] > 0, f"note-off for {key} which does not sound"
            sounding[key] -= 1
    return {key: count for key, count in sounding.items() if count}


def echo(request: dict) -> dict:
    """A control socket handler that answers status with a pid, as a daemon does, and
    echoes the rest."""
    if request.get("command") == "status":
        return {"ok": True, "status": {"pid": 4242}}
    return {"ok": True, "echo": request}


def connect(path: Path, timeout: float = 10.0) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    client.connect(str(path))
    return client


def talk(path: Path, *lines: bytes) -> list[dict]:
    """Send raw lines on one connection; the answers, one per line."""
    with connect(path) as client:
        reader = client.makefile("rb")
        answers = []
        for line in lines:
            client.sendall(line)
            answers.append(json.loads(reader.readline()))
        return answers
