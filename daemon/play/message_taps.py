"""What the daemon received and sent, told to whoever keeps a record of it: the timing
trace (`--timing-trace`) and the take feed (the session recorder and the web page).

The input gate, the output scheduler and the interaction loop each call one object, a
`MessageTaps`, at the moments they already know (a message kept or not, a message sent,
an answer begun); it hands each call on to the taps it holds. A tap's method runs on the
caller's thread (the reader, the scheduler with its lock held, the loop), so a tap must be
cheap and must not block: the timing trace packs a row, the take feed puts on a queue that
a thread of its own drains (docs/ARCHITECTURE.md, "Threads and realtime rules").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class MessageTap(Protocol):
    """One record of what the daemon received and sent (see the module docstring)."""

    def received(self, arrived: float, message: Sequence[int], kept: bool) -> None:
        """A message the input delivered (arrived: perf_counter seconds), and whether the
        daemon took it."""
        ...

    def sent(self, due: float | None, message: Sequence[int]) -> None:
        """A message that left, and when it was due (None: a release sent at once)."""
        ...

    def answer(self, decided: float, first_scheduled: float, first_due: float,
               keeps: str) -> None:
        """An answer begun: when the call's end was decided, when its first note went to
        the scheduler, when that note is due, and the rules it keeps in words."""
        ...


class MessageTaps:
    """Several taps behind the one object the gate, the scheduler and the loop call."""

    def __init__(self, taps: Sequence[MessageTap]) -> None:
        self._taps = tuple(taps)

    def received(self, arrived: float, message: Sequence[int], kept: bool) -> None:
        for tap in self._taps:
            tap.received(arrived, message, kept)

    def sent(self, due: float | None, message: Sequence[int]) -> None:
        for tap in self._taps:
            tap.sent(due, message)

    def answer(self, decided: float, first_scheduled: float, first_due: float,
               keeps: str) -> None:
        for tap in self._taps:
            tap.answer(decided, first_scheduled, first_due, keeps)


def taps_of(*taps: MessageTap | None) -> MessageTaps | None:
    """The taps given (None ones left out) behind one object; None when there are none, so
    a daemon that keeps no record pays nothing on its hot paths."""
    kept = [tap for tap in taps if tap is not None]
    return MessageTaps(kept) if kept else None
