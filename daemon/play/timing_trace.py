"""A record of what the daemon received, what it meant to send and when it sent it
(`--timing-trace FILE`), so a lost or late message can be placed on either side of it.

`antiphon bench loop` compares it with what a recorder client received, and a user can
read it to see where a late note came from. Times are `time.perf_counter()` seconds,
which on Linux is CLOCK_MONOTONIC: one clock shared by every process on the machine, so
the recorder's timestamps and these are directly comparable.

Recording costs one tuple append per message on the scheduler thread; the file is written
once, when the daemon stops, so no file I/O ever happens while it plays.
"""

from __future__ import annotations

import gc
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

TRACE_FORMAT = "antiphon-timing-trace-v1"


@dataclass
class TimingTrace:
    # (due, sent, message): due is when the scheduler meant the message to leave (None for
    # releases on a stop or barge-in, which are sent at once); sent, when `send` returned.
    sends: list[tuple[float | None, float, tuple[int, ...]]] = field(default_factory=list)
    # (decided, first_scheduled, first_due): the end of a call decided, the answer's first
    # note handed to the scheduler, and when that note is due.
    answers: list[tuple[float, float, float]] = field(default_factory=list)
    # (arrived, message, kept) of every message the input delivered: arrived is when the
    # MIDI system stamped it; kept, whether the daemon took it (False: another channel, a
    # kind it does not use, or shed in a flood).
    receives: list[tuple[float, tuple[int, ...], bool]] = field(default_factory=list)
    # (generation, started, seconds) of every garbage collection while the trace was on.
    collections: list[tuple[int, float, float]] = field(default_factory=list)
    _gc_started: float = 0.0

    def sent(self, due: float | None, message: tuple[int, ...]) -> None:
        self.sends.append((due, time.perf_counter(), message))

    def received(self, arrived: float, message: list[int], kept: bool) -> None:
        self.receives.append((arrived, tuple(message), kept))

    def answer(self, decided: float, first_scheduled: float, first_due: float) -> None:
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
