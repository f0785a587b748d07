"""Small helpers shared by the daemon's unit tests."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

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
