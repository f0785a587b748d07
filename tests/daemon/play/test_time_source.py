"""The time sources the loop and the scheduler read and wait by (daemon/play/time_source.py):
virtual seconds jump only when every thread taking part waits, to the earliest deadline."""

from __future__ import annotations

import queue
import threading
import time as real_time
from concurrent.futures import Future

import pytest
from virtual_play import PacedSession, running_loop

from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction import PhrasePolicy
from antiphon.daemon.play.loop_parts import LoopSettings
from antiphon.daemon.play.time_source import REAL_TIME, VirtualTime, time_of


def test_a_wait_jumps_to_its_deadline_when_everyone_waits(virtual_time):
    began = virtual_time.now()
    virtual_time.sleep(3600.0)  # an hour, at once
    assert virtual_time.now() == began + 3600.0


def test_time_stands_still_while_a_thread_taking_part_runs(virtual_time):
    woke: list[float] = []
    sleeper = virtual_time.thread(lambda: (virtual_time.sleep(1.0),
                                           woke.append(virtual_time.now())), "sleeper")
    sleeper.start()
    began = virtual_time.now()
    real_time.sleep(0.05)  # the test's thread runs (takes part): no time passes
    assert virtual_time.now() == began and woke == []
    virtual_time.sleep(2.0)  # now everyone waits: the sleeper's deadline comes first
    assert woke == [began + 1.0] and virtual_time.now() == began + 2.0
    assert virtual_time.join(sleeper, 1.0)


def test_the_earliest_deadline_wakes_first_and_the_order_holds():
    time = VirtualTime(start=0.0)
    order: list[tuple[str, float]] = []

    def sleeper(name: str, seconds: float):
        def run() -> None:
            time.sleep(seconds)
            order.append((name, time.now()))
        return time.thread(run, name)

    with time.taking_part():
        threads = [sleeper("late", 0.3), sleeper("early", 0.1), sleeper("middle", 0.2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            assert time.join(thread, 1.0)
    assert order == [("early", 0.1), ("middle", 0.2), ("late", 0.3)]


def test_a_queue_item_ends_a_wait_without_time_passing(virtual_time):
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    got: list[tuple[object, float]] = []
    reader = virtual_time.thread(
        lambda: got.append((virtual_time.get(inbox, 10.0), virtual_time.now())), "reader")
    reader.start()
    virtual_time.sleep(0.5)
    inbox.put("note")
    assert virtual_time.join(reader, 1.0)
    assert got == [("note", virtual_time.now())] and virtual_time.now() == 1000.5


def test_a_queue_wait_times_out_at_its_deadline(virtual_time):
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    with pytest.raises(queue.Empty):
        virtual_time.get(inbox, 0.25)
    assert virtual_time.now() == 1000.25


def test_a_notified_condition_ends_its_wait_and_an_unnotified_one_times_out(virtual_time):
    condition = virtual_time.condition()
    results: list[tuple[bool, float]] = []

    def wait_twice() -> None:
        with condition:
            results.append((condition.wait(5.0), virtual_time.now()))
            results.append((condition.wait(0.5), virtual_time.now()))

    waiter = virtual_time.thread(wait_twice, "waiter")
    waiter.start()
    virtual_time.sleep(1.0)
    with condition:
        condition.notify()
    assert virtual_time.join(waiter, 10.0)
    assert results == [(True, 1001.0), (False, 1001.5)]


def test_a_thread_not_taking_part_never_holds_time_still(virtual_time):
    """Another thread (a control client, say) waiting in virtual time does not count as
    one that takes part: the test's thread running still holds time."""
    future: Future = Future()
    outside = threading.Thread(target=lambda: future.set_result(virtual_time.sleep(0.1)))
    outside.start()
    began = virtual_time.now()
    real_time.sleep(0.05)
    assert virtual_time.now() == began  # the test's thread runs: no jump for the outsider
    assert virtual_time.result(future, 1.0) is None  # the test waits: time moves
    outside.join()
    assert virtual_time.now() == began + 0.1


def test_a_clock_and_its_time_source_agree():
    time = VirtualTime(start=50.0)
    clock = Clock(120.0, time_source=time)
    assert time_of(clock) is time and clock.now_beats() == 0.0
    with time.taking_part():
        time.sleep(1.0)
    assert clock.now_beats() == 2.0
    assert time_of(Clock(120.0)) is REAL_TIME  # a clock on perf_counter waits in real time


def test_real_time_is_perf_counter_and_really_waits():
    assert REAL_TIME.now is real_time.perf_counter
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    began = real_time.perf_counter()
    with pytest.raises(queue.Empty):
        REAL_TIME.get(inbox, 0.02)
    REAL_TIME.spin_until(real_time.perf_counter() + 0.005)
    assert real_time.perf_counter() - began >= 0.025


def test_a_loop_stopped_while_it_samples_has_ended_its_thread_when_stop_returns(
        virtual_time):
    """The loop's stop waits for its thread (a thread left running logs into a closed
    capture after its test), here one sampling a slow answer in virtual time."""
    session = PacedSession(virtual_time, step_delay_seconds=0.5)  # 8 beats: 8 s to sample
    policy = PhrasePolicy(silence_beats=1.0, min_answer_beats=8.0, max_answer_beats=8.0)
    with running_loop(virtual_time, session, LoopSettings(policy), 120.0) as (loop, clock,
                                                                             inbox):
        inbox.put((clock.now_seconds(), [0x90, 60, 100]))
        inbox.put((clock.now_seconds() + 0.1, [0x80, 60, 0]))
        assert virtual_time.wait_until(lambda: session.generated, 5)  # it samples
        assert loop.stop() and not loop.is_alive()
    assert loop.error is None
