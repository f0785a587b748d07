"""TakeFeed in real time: a note reaches the listeners within 20 ms of its tap, and each
listener is flushed at least every half second (a crash loses at most that much)."""

from __future__ import annotations

import threading
import time

import pytest
from record_helpers import Listener

from antiphon.daemon.record.feed import FLUSH_SECONDS, THREAD_NAME, TakeFeed

pytestmark = pytest.mark.realtime


def test_the_thread_hands_a_note_on_within_20_ms_and_flushes_every_half_second():
    listener = Listener()
    feed = TakeFeed([listener])
    feed.start()
    try:
        assert THREAD_NAME in [thread.name for thread in threading.enumerate()]
        time.sleep(0.05)
        delays = []
        for pitch in range(60, 65):
            listener.arrived.clear()
            tapped = time.perf_counter()
            feed.received(tapped, [0x90, pitch, 100], True)
            assert listener.arrived.wait(1.0)
            delays.append(listener.batches[-1][0] - tapped)
            time.sleep(0.03)
        time.sleep(1.3)
    finally:
        feed.stop()
    assert max(delays) < 0.020, delays
    assert listener.threads == {THREAD_NAME}
    gaps = [later - earlier
            for earlier, later in zip(listener.flushes, listener.flushes[1:], strict=False)]
    assert len(listener.flushes) >= 3 and max(gaps) < FLUSH_SECONDS + 0.15, gaps
    assert listener.closed == 1
    assert [e.message[1] for e in listener.events] == list(range(60, 65))
