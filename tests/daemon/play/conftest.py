"""The play room's tests: virtual time (daemon/play/time_source.py) for the loop and the
scheduler, and a check that every test ends every thread it started."""

from __future__ import annotations

import threading

import pytest
from virtual_play import VirtualTime


@pytest.fixture
def virtual_time():
    """Autojump seconds; the test's own thread takes part (time stands still while it
    runs, and passes while it waits in `sleep` or `wait_until`)."""
    time = VirtualTime()
    with time.taking_part():
        yield time


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test():
    """A thread left running logs into a closed capture after its test ('--- Logging
    error ---'), and plays into the next test: every thread a test starts must be ended
    by its end (set up first, this runs after every other fixture's finalizer)."""
    before = set(threading.enumerate())
    yield
    left = [thread for thread in threading.enumerate()
            if thread not in before and thread.is_alive()]
    for thread in left:
        thread.join(1.0)  # one ending as the test ends is not left
    left = [thread.name for thread in left if thread.is_alive()]
    assert not left, f"threads left running: {left}"
