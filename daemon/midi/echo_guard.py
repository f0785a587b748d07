"""The feedback guard: Antiphon's own output coming back into its input (a loop in the
patching: the synth's MIDI thru wired back, a DAW track echoing its input, `jack_connect`
of Antiphon Out to Antiphon In) must not be heard as the player, or it answers itself for
ever, and with MIDI thru on, every note would go round the loop again.

Each note message and control change the daemon sends (a knob's value sent back to a
controller's LED ring is one) is remembered for `ECHO_WINDOW_SECONDS`; one that arrives
within that window after an identical one was sent (same status, pitch or controller, and
value) is its echo and is dropped: a sent CC is never taken back as a knob move. A player
who strikes the very note an answer just struck, at the very same velocity, within those
milliseconds, loses that one note: rare, and far cheaper than a loop that never ends.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from antiphon.daemon.midi.wire import CONTROL_CHANGE, is_note

ECHO_WINDOW_SECONDS = 0.05  # a loop through JACK or USB MIDI comes back within a few ms
EARLY_SECONDS = 0.005  # an arrival stamped this much before the send still counts (clocks)
REMEMBERED = 512  # sends kept; far more than a window's worth at any playing speed


class EchoGuard:
    """Remembers what was sent (`sent`, from the scheduler's thread) and recognises it when
    it comes back (`is_echo`, from the input's reader thread)."""

    def __init__(self) -> None:
        self._sent: deque[tuple[float, tuple[int, ...]]] = deque(maxlen=REMEMBERED)
        self._lock = threading.Lock()
        self.echoes = 0

    def sent(self, message: Sequence[int], at: float | None = None) -> None:
        if _guarded(message):
            with self._lock:
                self._sent.append((time.perf_counter() if at is None else at, tuple(message)))

    def is_echo(self, message: Sequence[int], arrived: float) -> bool:
        """Whether `message` is a send of ours coming back; each send matches once."""
        if not _guarded(message):
            return False
        key = tuple(message)
        with self._lock:
            for index in range(len(self._sent) - 1, -1, -1):
                sent_at, sent = self._sent[index]
                if arrived - sent_at > ECHO_WINDOW_SECONDS:
                    return False  # older sends are too old to come back now
                if sent == key and sent_at <= arrived + EARLY_SECONDS:
                    del self._sent[index]
                    self.echoes += 1
                    return True
        return False


def _guarded(message: Sequence[int]) -> bool:
    """The messages whose echo is recognised: notes and control changes."""
    return is_note(message) or (len(message) == 3 and message[0] & 0xF0 == CONTROL_CHANGE)
