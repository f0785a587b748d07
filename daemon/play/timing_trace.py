"""A record of what the daemon received, what it meant to send and when it sent it
(`--timing-trace FILE`), so a lost or late message can be placed on either side of it.

`antiphon bench loop` compares it with what a recorder client received, and a user can
read it to see where a late note came from. Times are `time.perf_counter()` seconds,
which on Linux is CLOCK_MONOTONIC: one clock shared by every process on the machine, so
the recorder's timestamps and these are directly comparable.

Recording costs one packed append per message on the scheduler thread; the file is written
once, when the daemon stops, so no file I/O ever happens while it plays. Rows are packed
into bytes (a 20-byte header and the message's own bytes, rather than a tuple of Python
objects), so a trace kept over an hour's soak does not show up as the daemon's own memory
growing.
"""

from __future__ import annotations

import gc
import json
import math
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TRACE_FORMAT = "antiphon-timing-trace-v1"


class PackedRows:
    """(time, time-or-flag, message) rows packed into one bytearray: a header of two
    doubles and the message's length, then its bytes. Reads back as tuples: as a send
    `(due | None, sent, message)`, or as a receive `(arrived, message, kept)`."""

    HEADER = struct.Struct("<ddI")  # I: a long SysEx received still fits

    def __init__(self, receives: bool) -> None:
        self._receives = receives
        self._data = bytearray()
        self._count = 0

    def add(self, first: float, second: float, message: Iterable[int]) -> None:
        body = bytes(message)
        self._data += self.HEADER.pack(first, second, len(body))
        self._data += body
        self._count += 1

    def append(self, row: tuple) -> None:
        if self._receives:
            arrived, message, kept = row
            self.add(arrived, 1.0 if kept else 0.0, message)
        else:
            due, sent, message = row
            self.add(math.nan if due is None else due, sent, message)

    def __iadd__(self, rows: Iterable[tuple]) -> PackedRows:
        for row in rows:
            self.append(row)
        return self

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple]:
        data, offset, header = bytes(self._data), 0, self.HEADER
        while offset < len(data):
            first, second, length = header.unpack_from(data, offset)
            offset += header.size
            message = tuple(data[offset:offset + length])
            offset += length
            if self._receives:
                yield first, message, second != 0.0
            else:
                yield (None if math.isnan(first) else first), second, message

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (PackedRows, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # mutable, like the list it stands in for


@dataclass
class TimingTrace:
    # (due, sent, message): due is when the message is meant to be heard, its beat's time
    # (None for releases on a stop or barge-in, which are sent at once); sent, when `send`
    # returned. The scheduler means it to leave the output latency before its due time
    # (`--output-latency-ms`, or what JACK says: the status states it).
    sends: PackedRows = field(default_factory=lambda: PackedRows(receives=False))
    # (decided, first_scheduled, first_due): the end of a call decided, the answer's first
    # note handed to the scheduler, and when that note is due.
    answers: list[tuple[float, float, float]] = field(default_factory=list)
    # (arrived, message, kept) of every message the input delivered: arrived is when the
    # MIDI system stamped it; kept, whether the daemon took it (False: another channel, a
    # kind it does not use, or shed in a flood).
    receives: PackedRows = field(default_factory=lambda: PackedRows(receives=True))
    # (generation, started, seconds) of every garbage collection while the trace was on.
    collections: list[tuple[int, float, float]] = field(default_factory=list)
    _gc_started: float = 0.0

    def sent(self, due: float | None, message: tuple[int, ...]) -> None:
        self.sends.add(math.nan if due is None else due, time.perf_counter(), message)

    def received(self, arrived: float, message: list[int], kept: bool) -> None:
        self.receives.add(arrived, 1.0 if kept else 0.0, message)

    def answer(self, decided: float, first_scheduled: float, first_due: float,
               keeps: str = "") -> None:
        """An answer's times (`keeps`, the rules it keeps, is the take's, not timing)."""
        self.answers.append((decided, first_scheduled, first_due))

    # -- garbage collections ------------------------------------------------------------
    def watch_collections(self) -> None:
        gc.callbacks.append(self._on_collection)

    def stop_watching_collections(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        else:
            self.collections.append((info["generation"], self._gc_started,
                                     now - self._gc_started))

    # -- the file -----------------------------------------------------------------------
    def write(self, path: str | Path) -> None:
        """One JSON object per line: a header, then sends, answers and collections."""
        lines = [json.dumps({"format": TRACE_FORMAT, "clock": "perf_counter"})]
        lines += [json.dumps({"send": list(message), "due": due, "sent": sent})
                  for due, sent, message in self.sends]
        lines += [json.dumps({"receive": list(message), "arrived": arrived, "kept": kept})
                  for arrived, message, kept in self.receives]
        lines += [json.dumps({"answer": True, "decided": decided, "scheduled": scheduled,
                              "due": due}) for decided, scheduled, due in self.answers]
        lines += [json.dumps({"gc": generation, "at": at, "seconds": seconds})
                  for generation, at, seconds in self.collections]
        Path(path).write_text("\n".join(lines) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> TimingTrace:
        """Parse a file `write` made; raises ValueError on anything else."""
        trace = cls()
        text = Path(path).read_text()
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        if not rows or rows[0].get("format") != TRACE_FORMAT:
            raise ValueError(f"{path}: not an Antiphon timing trace ({TRACE_FORMAT})")
        for row in rows[1:]:
            if "send" in row:
                trace.sends.append((row["due"], row["sent"], tuple(row["send"])))
            elif "receive" in row:
                trace.receives.append((row["arrived"], tuple(row["receive"]), row["kept"]))
            elif "answer" in row:
                trace.answers.append((row["decided"], row["scheduled"], row["due"]))
            elif "gc" in row:
                trace.collections.append((row["gc"], row["at"], row["seconds"]))
        return trace
