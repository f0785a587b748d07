"""The play room's tests: virtual time (daemon/play/time_source.py) for the loop and the
scheduler. That every test ends the threads it started is checked for every test, in
tests/conftest.py."""

from __future__ import annotations

import pytest
from virtual_play import VirtualTime


@pytest.fixture
def virtual_time():
    """Autojump seconds; the test's own thread takes part (time stands still while it
    runs, and passes while it waits in `sleep` or `wait_until`)."""
    time = VirtualTime()
    with time.taking_part():
        yield time
