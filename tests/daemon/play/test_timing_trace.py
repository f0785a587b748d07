"""The timing trace: the scheduler records what it meant and did; the file reads back."""

from __future__ import annotations

import gc

import pytest
from daemon_helpers import recording_output, wait_until

from antiphon.daemon.config.daemon_config import ConfigError
from antiphon.daemon.config.loading import load_config
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.daemon.play.timing_trace import TimingTrace


def test_the_scheduler_records_each_send_with_its_due_time():
    output, recorder = recording_output()
    clock = Clock(120.0)
    trace = TimingTrace()
    scheduler = OutputScheduler(output, clock, taps=trace)
    scheduler.start()
    try:
        start = clock.now_beats() + 0.1
        scheduler.schedule(start, [0x90, 60, 100])
        scheduler.schedule(start + 0.1, [0x90, 60, 100])  # re-strike: a release goes first
        scheduler.schedule_release_all(start + 0.2)
        assert wait_until(lambda: len(recorder.messages()) == 4)
    finally:
        scheduler.stop()
    messages = [message for _, _, message in trace.sends]
    assert messages == [(0x90, 60, 100), (0x80, 60, 0), (0x90, 60, 100), (0x80, 60, 0)]
    dues = [due for due, _, _ in trace.sends]
    assert dues == pytest.approx([clock.seconds_at(start), clock.seconds_at(start + 0.1),
                                  clock.seconds_at(start + 0.1), clock.seconds_at(start + 0.2)])
    assert all(sent >= due for due, sent, _ in trace.sends)  # never before its time


def test_a_trace_file_reads_back(tmp_path):
    trace = TimingTrace()
    trace.sends += [(1.0, 1.0002, (0x90, 60, 90)), (None, 2.5, (0x80, 60, 0))]
    trace.answer(0.5, 0.52, 1.0)
    trace.watch_collections()
    try:
        gc.collect()
    finally:
        trace.stop_watching_collections()
    assert trace.collections and trace.collections[-1][0] == 2
    path = tmp_path / "trace.jsonl"
    trace.write(path)
    again = TimingTrace.read(path)
    assert again.sends == trace.sends
    assert again.answers == trace.answers
    assert again.collections == trace.collections
    (tmp_path / "other.jsonl").write_text('{"something": "else"}\n')
    with pytest.raises(ValueError, match="not an Antiphon timing trace"):
        TimingTrace.read(tmp_path / "other.jsonl")


def test_a_trace_into_a_missing_folder_is_refused_before_playing(tmp_path):
    with pytest.raises(ConfigError, match="--timing-trace"):
        load_config(overrides={"timing_trace": str(tmp_path / "no" / "such" / "t.jsonl")})
    assert load_config(overrides={"timing_trace": str(tmp_path / "t.jsonl")}).timing_trace


def test_an_hour_of_messages_costs_little_memory():
    """Kept in memory while the daemon plays: an hour at a dense answer's pace (some 30k
    sends, 60k receives) must not read as the daemon's memory growing."""
    import tracemalloc

    trace = TimingTrace()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(30_000):
            trace.sent(float(index), (0x90, index % 128, 100))
            trace.received(float(index), [0x80, index % 128, 0], index % 2 == 0)
            trace.received(float(index), [0xF8], False)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4_000_000, f"{grown / 1e6:.1f} MB for 90k rows"
    assert len(trace.sends) == 30_000 and len(trace.receives) == 60_000
    assert list(trace.receives)[:2] == [(0.0, (0x80, 0, 0), True), (0.0, (0xF8,), False)]
    assert list(trace.sends)[5] == (5.0, list(trace.sends)[5][1], (0x90, 5, 100))


def test_a_long_sysex_received_is_kept_whole(tmp_path):
    trace = TimingTrace()
    sysex = [0xF0, *([0x11] * 70_000), 0xF7]
    trace.received(1.0, sysex, False)
    trace.write(tmp_path / "t.jsonl")
    assert list(TimingTrace.read(tmp_path / "t.jsonl").receives) == [(1.0, tuple(sysex), False)]
