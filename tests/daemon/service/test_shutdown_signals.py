import os
import signal
import threading

import pytest

from antiphon.daemon.service.signals import ForcedShutdown, capture_signals


def test_first_signal_requests_a_stop_second_forces(monkeypatch):
    before = signal.getsignal(signal.SIGTERM)
    with capture_signals() as shutdown:
        assert not shutdown.requested.is_set()
        signal.raise_signal(signal.SIGTERM)
        assert shutdown.requested.is_set()
        with pytest.raises(ForcedShutdown, match="SIGINT"):
            signal.raise_signal(signal.SIGINT)
    assert shutdown.received == [signal.SIGTERM, signal.SIGINT]
    assert signal.getsignal(signal.SIGTERM) is before


def test_signal_from_another_process_is_captured():
    with capture_signals() as shutdown:
        os.kill(os.getpid(), signal.SIGINT)
        assert shutdown.requested.wait(2.0)


def test_outside_the_main_thread_it_leaves_handlers_alone():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def worker():
        with capture_signals() as shutdown:
            seen.append((shutdown, signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen[0][1] is before
