"""capture_signals under every stop signal and under bursts of them (test_shutdown_signals.py
covers the basic request / force sequence with raise_signal and the non-main thread)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from antiphon.daemon.service.signals import (
    HANDLED_SIGNALS,
    ForcedShutdown,
    capture_signals,
    signal_name,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX stop signals")

# The four a terminal and a service manager send, and some of those whose default would
# end the process on the spot: a user's kill, a timer, a resource limit, a realtime signal.
STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGALRM, signal.SIGXCPU, signal.SIGPWR,
                signal.SIGRTMIN + 3]
SIGNAL_IDS = [signal_name(sig) for sig in STOP_SIGNALS]


def kill_self(shutdown, signum: int) -> None:
    """Send `signum` to this process and return once its Python handler has run (the
    handler runs in the main thread between bytecodes; here, at the latest in the sleep).
    A ForcedShutdown the handler raises comes out of this call."""
    assert threading.current_thread() is threading.main_thread()
    before = len(shutdown.received)
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + 5.0
    while len(shutdown.received) == before:
        assert time.monotonic() < deadline, f"{signal_name(signum)} never handled"
        time.sleep(0.001)


def test_every_signal_that_would_end_the_process_is_handled():
    ending = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF,
              signal.SIGXCPU, signal.SIGXFSZ, signal.SIGPWR, signal.SIGIO, signal.SIGSTKFLT,
              *range(signal.SIGRTMIN, signal.SIGRTMAX + 1)}
    assert set(HANDLED_SIGNALS) == ending
    # Faults, a debugger's trap and the ones Python or the terminal use are not touched.
    for untouched in (signal.SIGSEGV, signal.SIGABRT, signal.SIGTRAP, signal.SIGPIPE,
                      signal.SIGCHLD, signal.SIGWINCH, signal.SIGCONT):
        assert untouched not in HANDLED_SIGNALS


def test_ctrl_z_is_refused_while_captured_and_given_back_after():
    before = signal.getsignal(signal.SIGTSTP)
    with capture_signals() as shutdown:
        assert signal.getsignal(signal.SIGTSTP) == shutdown.refuse_suspend
    assert signal.getsignal(signal.SIGTSTP) == before


def test_a_realtime_signal_is_named_by_its_place():
    assert signal_name(signal.SIGRTMIN + 3) == "SIGRTMIN+3"
    assert signal_name(signal.SIGTERM) == "SIGTERM"


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_each_signal_first_requests_then_forces_then_is_ignored(signum):
    with capture_signals() as shutdown:
        assert not shutdown.requested.is_set() and not shutdown.forced
        kill_self(shutdown, signum)
        assert shutdown.requested.is_set() and not shutdown.forced
        with pytest.raises(ForcedShutdown) as caught:
            kill_self(shutdown, signum)
        assert caught.value.signum == signum
        assert signal_name(signum) in str(caught.value)
        assert shutdown.forced
        kill_self(shutdown, signum)  # a third: ignored, nothing raised
        kill_self(shutdown, signum)
    assert shutdown.received == [signum] * 4


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_handlers_are_restored_after_the_block(signum):
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with capture_signals() as shutdown:
        for sig in STOP_SIGNALS:
            assert signal.getsignal(sig) == shutdown.handle
        kill_self(shutdown, signum)
    after = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    assert after == before


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_handlers_are_restored_when_the_forced_shutdown_leaves_the_block(signum):
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with pytest.raises(ForcedShutdown):
        with capture_signals() as shutdown:
            kill_self(shutdown, signum)
            kill_self(shutdown, signum)  # raises out of the block
    assert {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == before


def test_a_previous_python_handler_is_restored_and_works_again():
    seen = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        with capture_signals() as shutdown:
            kill_self(shutdown, signal.SIGHUP)
        assert seen == []  # the capture took it
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 5.0
        while not seen:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert seen == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_a_burst_raises_exactly_one_forced_shutdown(signum):
    raised = []
    with capture_signals() as shutdown:
        for _ in range(5):
            try:
                kill_self(shutdown, signum)
            except ForcedShutdown as err:
                raised.append(err)
        assert len(raised) == 1 and raised[0].signum == signum
        for _ in range(20):  # keep sending while the forced stop releases the notes
            kill_self(shutdown, signum)
    assert shutdown.received == [signum] * 25
    assert shutdown.requested.is_set() and shutdown.forced


def test_a_mixed_burst_raises_exactly_once_on_the_second_signal():
    sequence = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGINT,
                signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP]
    raised = []
    with capture_signals() as shutdown:
        for signum in sequence:
            try:
                kill_self(shutdown, signum)
            except ForcedShutdown as err:
                raised.append(err.signum)
    assert raised == [signal.SIGINT]
    assert shutdown.received == sequence


def test_the_release_is_not_interrupted_by_a_burst():
    """The forced path: catch ForcedShutdown, then release notes while signals keep coming."""
    released = []
    with capture_signals() as shutdown:
        kill_self(shutdown, signal.SIGTERM)
        try:
            kill_self(shutdown, signal.SIGINT)
        except ForcedShutdown:
            for pitch in range(128):
                if pitch % 16 == 0:
                    kill_self(shutdown, signal.SIGINT)
                released.append(pitch)
    assert released == list(range(128))
    assert len(shutdown.received) == 2 + 8


def test_each_capture_starts_afresh():
    with capture_signals() as first:
        kill_self(first, signal.SIGINT)
        with pytest.raises(ForcedShutdown):
            kill_self(first, signal.SIGINT)
    with capture_signals() as second:
        assert second is not first
        kill_self(second, signal.SIGINT)  # a first signal again: only a request
        assert second.requested.is_set() and not second.forced
    assert second.received == [signal.SIGINT]



@pytest.fixture
def handlers_put_back(monkeypatch):
    """hold_after_stop keeps its handlers for the rest of the process: give pytest back
    its own afterwards."""
    from antiphon.daemon.service import signals as signals_module

    monkeypatch.setattr(signals_module, "_held", None)
    before = {sig: signal.getsignal(sig) for sig in (*HANDLED_SIGNALS, signal.SIGTSTP)}
    yield signals_module
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_after_a_finished_stop_is_counted_as_forcing_never_kills(
        signum, handlers_put_back):
    with capture_signals(hold_after_stop=True) as shutdown:
        kill_self(shutdown, signal.SIGINT)  # the clean stop, done within the block
    assert not handlers_put_back.stop_was_forced()
    for _ in range(3):  # the rest of the burst, after the stop finished: still alive
        kill_self(shutdown, signum)
    assert handlers_put_back.stop_was_forced()
    assert shutdown.received == [signal.SIGINT] + [signum] * 3


def test_without_a_stop_the_held_capture_gives_the_handlers_back(handlers_put_back):
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with capture_signals(hold_after_stop=True):
        pass
    assert {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == before
    assert not handlers_put_back.stop_was_forced()


def test_a_late_hangup_meaning_reload_does_not_force(handlers_put_back):
    with capture_signals(reload_on_hangup=True, hold_after_stop=True) as shutdown:
        kill_self(shutdown, signal.SIGTERM)
    kill_self(shutdown, signal.SIGHUP)
    assert not handlers_put_back.stop_was_forced()
    kill_self(shutdown, signal.SIGTERM)
    assert handlers_put_back.stop_was_forced()


def test_on_the_way_out_the_system_ignores_the_rest_of_a_burst(handlers_put_back):
    """Python gives the handlers back to the system's defaults while it finalizes: only an
    ignored signal cannot kill the process there."""
    handlers_put_back.ignore_stop_signals()
    for signum in STOP_SIGNALS:
        assert signal.getsignal(signum) == signal.SIG_IGN
        os.kill(os.getpid(), signum)  # would end this process under the default
    time.sleep(0.05)
