"""What OSC may cost the daemon, whoever sends it and however fast (docs/SERVICE.md, "Who
can steer Antiphon"): a rate, a cap per packet, and a short queue of work in which repeated
requests collapse to the last.

- The rate: a token bucket of `MESSAGES_PER_SECOND`, `MESSAGE_BURST` at once (a few faders
  moved together at 60 Hz pass whole). A packet that arrives with no token left is shed
  unread; of one that is read, each message carried out takes a token, and those that find
  none are shed. A packet with no message to carry out (junk, an empty bundle) takes one:
  its read and its error answer are held to the rate too. Walking a packet's bundles and
  the messages past the cap costs a token per `ELEMENTS_PER_TOKEN`, taken once it is read,
  into debt if need be (the packets after it wait until it is paid): however it is built, a
  packet costs tokens in proportion to the work it made.
- The cap: at most `MESSAGES_PER_PACKET` messages of one packet are read and carried out;
  the rest are only counted (osc_packets), refused, and the sender is told once per packet.
  So a packet costs a bounded amount of work, whatever its size.
- The queue: what is read waits for the one thread that carries it out (the Controller, one
  request at a time; a setting reaches the interaction loop as one call it waits for, so OSC
  never has more than one change queued to the loop). At most `QUEUE_LIMIT` requests wait;
  beyond, they are shed. A model swap or a setting asked for while one of the same is still
  waiting replaces it (the one replaced is answered "superseded"): a bundle of a thousand
  `/antiphon/model` loads one model, and a fader swept while an answer is sampled lands where
  the hand left it. A reload waiting is replaced by a later one too (it reads the config
  later). What may load a model (a swap, a reload, `set program_models`) begins at most one
  per `SWAP_SECONDS` (loading a model keeps a core busy for a while; the requests behind
  one go on meanwhile), so a flood of them, however spread over packets and mixed, loads a
  model a second at most; and a load that took longer is followed by as long without one.

What is shed, refused or superseded is counted (`antiphon status`) and logged at most a line
a second with its count, as the MIDI input's flood is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("antiphon.daemon.control.osc")

MESSAGES_PER_SECOND = 200.0
MESSAGE_BURST = 100
MESSAGES_PER_PACKET = 32  # a preset of settings in one bundle fits; a thousand swaps do not
ELEMENTS_PER_TOKEN = 32  # bundles and uncarried messages walked in a packet, per token
QUEUE_LIMIT = 64
SWAP_SECONDS = 1.0  # between the starts of two model loads: loading one takes a core a while
SWAP = ("model",)  # what a model swap replaces (`kind_of`)
RELOAD = ("reload",)  # a reload re-reads the config later, so it stands for one waiting
PROGRAM_MODELS = ("set", "program_models")
# What may load a model: a swap; a reload (a changed model, the program models checked
# again); program models set (each loaded, and one that fails is loaded again next time).
LOADS = (SWAP, RELOAD, PROGRAM_MODELS)
FLOOD_LOG_SECONDS = 1.0


@dataclass
class OscStats:
    messages: int = 0  # read from packets
    carried_out: int = 0  # handed to the Controller
    shed: int = 0  # over the rate or the queue: messages, and packets shed unread
    refused: int = 0  # messages past MESSAGES_PER_PACKET in their packet
    superseded: int = 0  # model swaps and settings replaced by a later one while waiting

    def counters(self) -> dict[str, int]:
        """For `antiphon status`'s counters."""
        return {"osc_messages": self.messages, "osc_shed": self.shed,
                "osc_refused": self.refused, "osc_superseded": self.superseded}


class TokenBucket:
    """`rate` tokens a second, at most `burst` held."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._refilled = clock()

    def has_token(self) -> bool:
        self._refill()
        return self._tokens >= 1.0

    def charge(self, amount: float) -> None:
        """Take `amount` tokens for work already done, into debt if there are fewer: no
        token is there again until it is paid."""
        self._refill()
        self._tokens -= amount

    def take(self, count: int) -> int:
        """Take up to `count` tokens; how many there were."""
        self._refill()
        granted = max(0, min(count, int(self._tokens)))
        self._tokens -= granted
        return granted

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now


class FloodLog:
    """A warning at most once per FLOOD_LOG_SECONDS, with the count since the last line and
    in all: `text` has {new}, {seconds} and {total}, and whatever `add` is given besides."""

    def __init__(self, text: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._text = text
        self._clock = clock
        self._total = 0
        self._logged_total = 0
        self._logged_at: float | None = None

    def add(self, count: int, **details: object) -> None:
        if count <= 0:
            return
        self._total += count
        now = self._clock()
        if self._logged_at is None or now - self._logged_at >= FLOOD_LOG_SECONDS:
            seconds = 0.0 if self._logged_at is None else min(now - self._logged_at, 99.9)
            log.warning(self._text.format(new=self._total - self._logged_total,
                                          seconds=seconds, total=self._total,
                                          **details))
            self._logged_total = self._total
            self._logged_at = now


@dataclass
class Work:
    """A request waiting to be carried out: `request` is the Controller's (None for a
    subscription, or a message it would not understand); `replaces` names what a later one
    of the same kind replaces (`kind_of`)."""

    sender: tuple[str, int]
    command: str  # the address after /antiphon/, as answers name it
    args: tuple
    request: dict | None
    replaces: tuple | None


class WorkQueue:
    """The requests waiting for the OSC worker thread, bounded, the repeated collapsed, and
    what may load a model (LOADS) begun at most one per SWAP_SECONDS (other requests go on
    meanwhile)."""

    def __init__(self, limit: int = QUEUE_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._waiting: list[Work] = []
        self._ready = threading.Condition()
        self._closed = False
        self._next_swap = -SWAP_SECONDS  # when the next model load (LOADS) may begin
        self._load_began: float | None = None  # of the load last taken, till the next take

    def put(self, works: list[Work]) -> tuple[list[Work], list[Work]]:
        """Queue a packet's requests together (the worker takes none of them half-way);
        returns (those now superseded, those shed for want of room)."""
        superseded, shed = [], []
        with self._ready:
            for work in works:
                if work.replaces is not None:
                    for waiting in self._waiting:
                        if waiting.replaces == work.replaces:
                            self._waiting.remove(waiting)
                            superseded.append(waiting)
                            break
                if len(self._waiting) >= self._limit:
                    shed.append(work)
                else:
                    self._waiting.append(work)
            self._ready.notify()
        return superseded, shed

    def take(self, timeout: float) -> Work | None:
        """The next request that may begin, or None once closed or after `timeout` s. One
        worker takes, once it has carried out what it took before: so a load that took
        longer than SWAP_SECONDS is followed by as long without one (half the worker's time
        at most, however long a model takes to load)."""
        with self._ready:
            deadline = self._clock() + timeout
            if self._load_began is not None:
                now = self._clock()
                self._next_swap = max(self._next_swap, now + (now - self._load_began))
                self._load_began = None
            while not self._closed:
                now = self._clock()
                for index, work in enumerate(self._waiting):
                    if work.replaces in LOADS:
                        if now < self._next_swap:
                            continue
                        self._next_swap = now + SWAP_SECONDS
                        self._load_began = now
                    return self._waiting.pop(index)
                wait = deadline - now
                if any(work.replaces in LOADS for work in self._waiting):
                    wait = min(wait, self._next_swap - now)
                if wait <= 0:
                    return None
                self._ready.wait(wait)
            return None

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __len__(self) -> int:
        with self._ready:
            return len(self._waiting)


def kind_of(request: dict | None) -> tuple | None:
    """What a request sets, for collapsing: ("model",) for a swap, ("reload",), ("set", key)
    for a setting, None for anything else (status, panic, subscriptions: each carried out)."""
    if request is None:
        return None
    if request["command"] == "model":
        return SWAP
    if request["command"] == "reload":
        return RELOAD
    if request["command"] == "set":
        key = request["key"].strip().replace("-", "_").lower()
        return SWAP if key == "model" else ("set", key)
    return None


def describe_kind(kind: tuple | None) -> str:
    """A kind (`kind_of`) in words, for the answer to a request superseded."""
    if kind == SWAP:
        return "model swap"
    if kind == RELOAD:
        return "reload"
    return f"setting of {kind[1]}" if kind else "request"
