"""Time for the interaction loop and the output scheduler: read, waited on, threads run by it.

The loop and the scheduler never call `time.perf_counter`, `queue.get(timeout=...)` or
`Condition.wait(timeout)` by themselves: they ask a time source. Two exist.

- `RealTime` (`REAL_TIME`), what the daemon runs on: `now` *is* `time.perf_counter`, its
  condition is a plain `threading.Condition`, its waits are the queue's and the
  condition's own; the scheduler's hot path (read the time, wait, spin, send) costs what it
  did before, plus one call per spin.
- `VirtualTime`, for tests: seconds that pass only when nothing can happen before they do.
  It is an "autojump" clock, as trio's `MockClock(autojump_threshold=0)`: time stands still
  while any thread taking part runs, and when every one of them is blocked in one of its
  waits it jumps to the earliest deadline they wait for. So a test of an answer due two
  beats after the call takes no wall time for the silence, yet every due time, late answer
  and barge-in happens at the virtual second it would in real time, in the same order, and
  does not depend on how loaded the machine is. A slow model is a session that sleeps in
  virtual time; a slow machine does not make anything late.

Why autojump rather than a clock the test moves by hand: the test then says only what the
player does and when (in virtual seconds), never how far to step the clock between two
steps of the loop, and it cannot step past a deadline without the loop seeing it.

Threads take part when they are started through `thread()` (the loop's and the
scheduler's are), or when they call `take_part()` (a test's own thread); a thread that
does not take part (a control client's) may wait in virtual time but never holds it
still. A thread taking part that blocks on anything but a time source's waits holds time
still while it blocks, so the loop's `stop` and `call` wait for its thread and its
answer through the time source (`join`, `result`): a loop asked to stop while a slow
model samples in virtual time can then finish its step.

`Clock(time_source=...)` takes a time source (both kinds are callables returning now), and
`time_of(clock)` gives it back: the loop and the scheduler, given no time source of their
own, wait by the one the clock counts beats in, so beats and seconds always agree.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

# A thread in a virtual wait looks again this often (real seconds) in case what it waits
# for came without a word to the time source (an item put on a queue).
VIRTUAL_POLL_SECONDS = 0.002


class TimeSource:
    """What the loop and the scheduler read and wait by (see the module docstring)."""

    def now(self) -> float:
        raise NotImplementedError

    def __call__(self) -> float:  # a time source is a clock's `time_source` callable too
        return self.now()

    def condition(self) -> threading.Condition:
        """A condition whose `wait(timeout)` waits in this time."""
        raise NotImplementedError

    def get(self, inbox: queue.SimpleQueue, timeout: float | None) -> Any:
        """The next item of `inbox`, waiting up to `timeout` seconds (None: for ever);
        raises queue.Empty when none came."""
        raise NotImplementedError

    def spin_until(self, moment: float) -> None:
        """Return at `moment` (spinning: for the last stretch before a send)."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def join(self, thread: threading.Thread, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds (None: for ever) for `thread` to end; whether it did."""
        raise NotImplementedError

    def result(self, future: Future, timeout: float | None) -> Any:
        """`future`'s result, waiting up to `timeout` seconds (TimeoutError past it)."""
        raise NotImplementedError

    def thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """A daemon thread running `target` in this time (not started)."""
        return threading.Thread(target=target, name=name, daemon=True)


class RealTime(TimeSource):
    """`time.perf_counter` and real waits: what the daemon runs on."""

    def __init__(self) -> None:
        self.now = time.perf_counter  # type: ignore[method-assign]  # no wrapper to call

    def condition(self) -> threading.Condition:
        return threading.Condition()

    def get(self, inbox: queue.SimpleQueue, timeout: float | None) -> Any:
        return inbox.get(timeout=timeout)

    def spin_until(self, moment: float) -> None:
        perf_counter = time.perf_counter
        while perf_counter() < moment:
            pass

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def join(self, thread: threading.Thread, timeout: float | None) -> bool:
        thread.join(timeout)
        return not thread.is_alive()

    def result(self, future: Future, timeout: float | None) -> Any:
        return future.result(timeout)


REAL_TIME = RealTime()


def time_of(clock: object) -> TimeSource:
    """The time source `clock` reads (`Clock.time_source`) when it is one (a VirtualTime in
    tests), else real time: every clock the daemon makes reads `time.perf_counter`."""
    source = getattr(clock, "time_source", None)
    return source if isinstance(source, TimeSource) else REAL_TIME


class _Waiter:
    __slots__ = ("deadline", "ready", "takes_part")

    def __init__(self, deadline: float, ready: Callable[[], bool] | None,
                 takes_part: bool) -> None:
        self.deadline = deadline  # virtual seconds; math.inf: none
        self.ready = ready  # what ends the wait before its deadline; None: nothing
        self.takes_part = takes_part  # a waiter that does not holds no time still

    def done(self, now: float) -> bool:
        return now >= self.deadline or (self.ready is not None and bool(self.ready()))


class VirtualTime(TimeSource):
    """Autojump virtual seconds (module docstring). Starts at `start` seconds."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = float(start)
        self._guard = threading.Condition(threading.Lock())
        self._taking_part = 0  # threads taking part (one being started counts already)
        self._parts: Counter[int] = Counter()  # their idents, once they run
        self._waiters: set[_Waiter] = set()  # of those, the ones blocked in a wait
        self._changes = 0  # counts every change of the above, every jump and every poke

    def now(self) -> float:
        return self._now

    # -- taking part ------------------------------------------------------------------------
    def take_part(self) -> None:
        """The calling thread takes part: time stands still while it runs."""
        with self._guard:
            self._taking_part += 1
            self._parts[threading.get_ident()] += 1
            self._changed()

    def leave(self) -> None:
        """The calling thread no longer takes part."""
        with self._guard:
            self._taking_part -= 1
            self._parts[threading.get_ident()] -= 1
            self._changed()

    @contextmanager
    def taking_part(self):
        self.take_part()
        try:
            yield self
        finally:
            self.leave()

    def thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        return _VirtualThread(self, target, name)

    # -- waits ------------------------------------------------------------------------------
    def condition(self) -> threading.Condition:
        return _VirtualCondition(self)

    def get(self, inbox: queue.SimpleQueue, timeout: float | None) -> Any:
        while True:
            try:
                return inbox.get_nowait()
            except queue.Empty:
                pass
            if not self.wait_for(lambda: not inbox.empty(), timeout):
                raise queue.Empty

    def spin_until(self, moment: float) -> None:
        self.wait_for(None, moment - self._now)

    def sleep(self, seconds: float) -> None:
        self.wait_for(None, seconds)

    def join(self, thread: threading.Thread, timeout: float | None) -> bool:
        return self.wait_for(lambda: not thread.is_alive(), timeout)

    def result(self, future: Future, timeout: float | None) -> Any:
        self.wait_for(future.done, timeout)
        return future.result(0)

    def wait_for(self, ready: Callable[[], bool] | None, timeout: float | None) -> bool:
        """Block the calling thread (one taking part) until `ready()` is true or `timeout`
        virtual seconds have passed (None: no limit); returns whether `ready()` came true.
        `ready` is also asked from other threads: it must only read."""
        with self._guard:
            now = self._now
            if timeout is None:
                deadline = math.inf
            elif timeout > 0:  # at least one step of the float: a wait moves time forward
                deadline = max(now + timeout, math.nextafter(now, math.inf))
            else:
                deadline = now
            waiter = _Waiter(deadline, ready, self._parts[threading.get_ident()] > 0)
            self._waiters.add(waiter)
            self._changed()
        try:
            while True:
                if ready is not None and ready():
                    return True
                with self._guard:
                    if self._now >= deadline:
                        return False
                    seen = self._changes
                    waiters = list(self._waiters)
                    everyone_waits = (sum(w.takes_part for w in waiters)
                                      >= self._taking_part)
                # Asked outside the lock: a `ready` may take locks of its own.
                if everyone_waits and not any(w.done(self._now) for w in waiters):
                    with self._guard:
                        if seen == self._changes:  # nobody moved meanwhile: jump
                            earliest = min(w.deadline for w in waiters)
                            if earliest > self._now and earliest != math.inf:
                                self._now = earliest
                                self._changed()
                                continue
                with self._guard:
                    if seen == self._changes:
                        self._guard.wait(VIRTUAL_POLL_SECONDS)
        finally:
            with self._guard:
                self._waiters.discard(waiter)
                self._changed()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait up to `timeout` virtual seconds for `condition()`; returns it."""
        return self.wait_for(condition, timeout) or bool(condition())

    def poke(self) -> None:
        """Something a waiter may be waiting for happened: let them look again."""
        with self._guard:
            self._changed()

    def _starting(self, count: int) -> None:
        """A thread is being started (+1), or failed to start (-1): it takes part from
        before it runs."""
        with self._guard:
            self._taking_part += count
            self._changed()

    def _runs(self) -> None:
        """A thread counted by `_starting` runs: its waits are those of one taking part."""
        with self._guard:
            self._parts[threading.get_ident()] += 1
            self._changed()

    def _changed(self) -> None:  # the guard held
        self._changes += 1
        self._guard.notify_all()


class _VirtualThread(threading.Thread):
    """A daemon thread that takes part in a VirtualTime from its start() to its end."""

    def __init__(self, time_source: VirtualTime, target: Callable[[], None],
                 name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._time_source = time_source
        self._body = target

    def start(self) -> None:
        self._time_source._starting(+1)  # before it runs: no jump may slip in before it does
        try:
            super().start()
        except BaseException:
            self._time_source._starting(-1)
            raise

    def run(self) -> None:
        self._time_source._runs()
        try:
            self._body()
        finally:
            self._time_source.leave()


class _VirtualCondition(threading.Condition):
    """A condition whose timed wait passes in virtual time; a notify ends the wait."""

    def __init__(self, time_source: VirtualTime) -> None:
        super().__init__()
        self._time_source = time_source
        self._notices = 0

    def notify(self, n: int = 1) -> None:
        self._notices += 1
        super().notify(n)
        self._time_source.poke()

    def notify_all(self) -> None:
        self.notify()

    def wait(self, timeout: float | None = None) -> bool:
        seen = self._notices
        state = self._release_save()  # type: ignore[attr-defined]
        try:
            return self._time_source.wait_for(lambda: self._notices != seen, timeout)
        finally:
            self._acquire_restore(state)  # type: ignore[attr-defined]
