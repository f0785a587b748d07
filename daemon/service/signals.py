"""Stop signals, captured by a context manager (as uvicorn does): Ctrl-C (SIGINT),
SIGTERM (a service manager), SIGHUP (a closed terminal or SSH session), SIGQUIT (Ctrl-\\),
and every other signal whose default would end the process on the spot with its notes
sounding (SIGUSR1, SIGALRM, a CPU or file size limit's SIGXCPU, the realtime signals...):
whoever sends one asks for an end, and gets a clean one. Ctrl-Z (SIGTSTP) is refused: a
stopped daemon would leave its notes sounding and its JACK client dropped by the server;
Ctrl-C ends it. Faults (SIGSEGV, SIGABRT...) and a debugger's SIGTRAP are not touched.

The first signal asks for a clean stop: the daemon stops listening, releases every note it
sounds and shuts its threads down. A second signal (the user is impatient, or the clean stop
hangs) raises ForcedShutdown in the main thread wherever it is, so the caller skips the
waiting and only releases the notes. Any signal after that is noted and ignored: a burst of
Ctrl-C must not interrupt the release itself. The previous handlers come back on exit,
except with `hold_after_stop` once a stop is under way: the process is on its way out, and
a late Ctrl-C of the same burst must not kill it mid-exit (Python's default handler would
print a KeyboardInterrupt traceback); such a signal is counted as a forced stop instead
(`stop_was_forced()`), so the exit status says what the user asked for, however fast the
clean stop was.

Under a service manager there is no terminal to hang up, and SIGHUP means what it means to
every daemon: re-read the config (`systemctl reload`, `kill -HUP`). `capture_signals(
reload_on_hangup=True)` makes it set `reload_requested` instead of stopping.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

_STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2",
                      "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGXFSZ", "SIGPWR",
                      "SIGIO", "SIGSTKFLT")
_REALTIME_SIGNALS = (range(signal.SIGRTMIN, signal.SIGRTMAX + 1)
                     if hasattr(signal, "SIGRTMIN") else range(0))
HANDLED_SIGNALS = tuple(dict.fromkeys([  # SIGIO is SIGPOLL: once
    *(getattr(signal, name) for name in _STOP_SIGNAL_NAMES
      if hasattr(signal, name)),  # Windows has SIGINT and SIGTERM only
    *_REALTIME_SIGNALS,
]))
SUSPEND_SIGNAL = getattr(signal, "SIGTSTP", None)


def signal_name(signum: int) -> str:
    """SIGTERM, or SIGRTMIN+3 for a realtime signal (which has no name of its own)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIGRTMIN+{signum - signal.SIGRTMIN}" if signum in _REALTIME_SIGNALS else \
            f"signal {signum}"


class ForcedShutdown(BaseException):
    """A second stop signal: stop now. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"{signal_name(signum)} received twice: forcing shutdown")
        self.signum = signum


_held: ShutdownRequest | None = None  # the request that keeps the handlers after its block


class ShutdownRequest:
    """What the signals asked for; `requested` is set by the first one."""

    def __init__(self, reload_on_hangup: bool = False) -> None:
        self.requested = threading.Event()
        self.reload_requested = threading.Event()  # SIGHUP, when it means reload
        self.reload_on_hangup = reload_on_hangup
        self.forced = False
        self.received: list[int] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.reload_on_hangup and signum == getattr(signal, "SIGHUP", None):
            self.reload_requested.set()  # the serving thread reloads: no work in a handler
            return
        if self.forced:
            return  # the forced stop is releasing the notes: let it finish
        if self.requested.is_set():
            self.forced = True
            raise ForcedShutdown(signum)
        log.info("%s received: stopping cleanly (send it again to force)",
                 signal_name(signum))
        self.requested.set()

    def refuse_suspend(self, signum: int, frame: FrameType | None) -> None:
        log.warning("Ctrl-Z (SIGTSTP) refused: a suspended Antiphon would leave its notes "
                    "sounding; Ctrl-C stops it")

    def handle_after_stop(self, signum: int, frame: FrameType | None) -> None:
        """A stop signal after the block ended: the stop is done or nearly; count it."""
        self.received.append(signum)
        if not (self.reload_on_hangup and signum == getattr(signal, "SIGHUP", None)):
            self.forced = True


def ignore_stop_signals() -> None:
    """The process is on its way out with its status decided. Python gives its signals back
    to the system's defaults while it finalizes, so a Ctrl-C of the burst arriving then
    would kill it (exit -2, not ours): the system ignores them from here on instead."""
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def stop_was_forced() -> bool:
    """Whether a stop signal came again after the first, up to now, counting those that
    arrived after a `hold_after_stop` capture ended."""
    return _held is not None and _held.forced


@contextmanager
def capture_signals(reload_on_hangup: bool = False,
                    hold_after_stop: bool = False) -> Iterator[ShutdownRequest]:
    """Route the stop signals to a ShutdownRequest for the duration of the block (SIGHUP
    to a reload request instead, with `reload_on_hangup`); with `hold_after_stop`, for the
    rest of the process once a stop was requested (see the module's doc).

    Handlers can only be installed from the main thread; elsewhere (a test runner's worker
    thread) the request is returned untouched and the signals keep their old handlers.
    """
    request = ShutdownRequest(reload_on_hangup)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    global _held
    previous = {signum: signal.signal(signum, request.handle) for signum in HANDLED_SIGNALS}
    suspend = None if SUSPEND_SIGNAL is None else signal.signal(SUSPEND_SIGNAL,
                                                               request.refuse_suspend)
    try:
        yield request
    finally:
        holding = hold_after_stop and request.requested.is_set()
        for signum, handler in previous.items():
            signal.signal(signum, request.handle_after_stop if holding else handler)
        if suspend is not None and not holding:
            signal.signal(SUSPEND_SIGNAL, suspend)
        if holding:
            _held = request
