"""Stop signals, captured by a context manager (as uvicorn does): Ctrl-C (SIGINT),
SIGTERM (a service manager), SIGHUP (a closed terminal or SSH session) and SIGQUIT (Ctrl-\\).

The first signal asks for a clean stop: the daemon stops listening, releases every note it
sounds and shuts its threads down. A second signal (the user is impatient, or the clean stop
hangs) raises ForcedShutdown in the main thread wherever it is, so the caller skips the
waiting and only releases the notes. Any signal after that is noted and ignored: a burst of
Ctrl-C must not interrupt the release itself. The previous handlers come back on exit.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

HANDLED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)  # Windows has SIGINT and SIGTERM only
)


class ForcedShutdown(BaseException):
    """A second stop signal: stop now. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} received twice: forcing shutdown")
        self.signum = signum


class ShutdownRequest:
    """What the signals asked for; `requested` is set by the first one."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.forced = False
        self.received: list[int] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.forced:
            return  # the forced stop is releasing the notes: let it finish
        if self.requested.is_set():
            self.forced = True
            raise ForcedShutdown(signum)
        log.info("%s received: stopping cleanly (send it again to force)",
                 signal.Signals(signum).name)
        self.requested.set()


@contextmanager
def capture_signals() -> Iterator[ShutdownRequest]:
    """Route SIGINT and SIGTERM to a ShutdownRequest for the duration of the block.

    Handlers can only be installed from the main thread; elsewhere (a test runner's worker
    thread) the request is returned untouched and the signals keep their old handlers.
    """
    request = ShutdownRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.signal(signum, request.handle) for signum in HANDLED_SIGNALS}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
