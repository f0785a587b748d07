"""Takes for the record room's tests and the sessions command's: played through a real
TakeFeed into a real TakeRecorder, at times the test chooses (perf_counter based)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

from antiphon.daemon.record.feed import TakeFeed
from antiphon.daemon.record.recorder import TakeRecorder
from antiphon.daemon.record.upkeep import KeepPolicy

# (seconds, MIDI bytes): a call of two notes, then an answer of two.
CALL = [(0.5, (0x90, 60, 100)), (1.0, (0x80, 60, 0)), (1.0, (0x90, 64, 90)),
        (1.5, (0x80, 64, 0))]
ANSWER = [(2.5, (0x90, 67, 80)), (3.0, (0x80, 67, 0)), (3.0, (0x90, 72, 80)),
          (3.5, (0x80, 72, 0))]


class SetClock:
    """A perf_counter the test moves: the feed stamps `sent`, tempo and settings with it."""

    def __init__(self, seconds: float = 1000.0) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds


def record_take(folder: Path, *, call=CALL, answer=ANSWER, bpm: float = 120.0,
                model: str = "folk", tempo_changes=(), keep: KeepPolicy | None = None) -> str:
    """One take: tempo and settings at 0, the call received, an answer begun at its first
    note's second minus half a second, the answer sent; its id. `tempo_changes`:
    (seconds, bpm) told to the feed at those moments."""
    clock = SetClock()
    recorder = TakeRecorder(folder, keep or KeepPolicy())
    take_id = recorder.open()
    feed = TakeFeed([recorder], now=clock)
    t0 = feed.started
    feed.start()
    try:
        feed.tempo(bpm, "internal")
        feed.settings({"model": model, "temperature": 1.0})
        moments = [(s, "call", m) for s, m in call] + [(s, "answer", m) for s, m in answer] \
            + [(s, "tempo", b) for s, b in tempo_changes]
        if answer:
            moments.append((answer[0][0] - 0.5, "start", None))
        for seconds, kind, payload in sorted(moments, key=lambda item: item[0]):
            clock.seconds = t0 + seconds
            if kind == "call":
                feed.received(t0 + seconds, payload, True)
            elif kind == "answer":
                feed.sent(t0 + seconds if payload[0] & 0xF0 == 0x90 else None, payload)
            elif kind == "tempo":
                feed.tempo(payload, "internal")
            else:
                feed.answer(t0 + seconds, t0 + seconds, t0 + seconds + 0.5, "C major")
    finally:
        feed.stop()
    return take_id


def write_journal(take: Path, rows: list[dict], *, pid: int, tail: bytes = b"",
                  process: str | None = None) -> None:
    """A take folder with a journal as a process with `pid` (and `process`, its mark) would
    have left it."""
    take.mkdir(mode=0o700, parents=True)
    header = {"format": "antiphon-take-v1", "started": "2026-01-02T03:04:05+00:00",
              "pid": pid, **({"process": process} if process else {})}
    lines = [json.dumps(row) for row in [header, *rows]]
    (take / "journal.jsonl").write_bytes(("\n".join(lines) + "\n").encode() + tail)
    os.chmod(take / "journal.jsonl", 0o600)


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class Listener:
    """Keeps what it is handed, with the time it came."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, tuple]] = []
        self.flushes: list[float] = []
        self.closed = 0
        self.threads: set[str] = set()
        self.arrived = threading.Event()

    def take_events(self, events) -> None:
        self.threads.add(threading.current_thread().name)
        self.batches.append((time.perf_counter(), tuple(events)))
        self.arrived.set()

    def flush(self) -> None:
        self.flushes.append(time.perf_counter())

    def close(self) -> None:
        self.closed += 1

    @property
    def events(self):
        return [event for _, batch in self.batches for event in batch]
