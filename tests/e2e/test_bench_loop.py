"""`antiphon bench loop`: its matching of sends with arrivals, and one short real run over
JACK (structure only: timings are reported by the benchmark, never asserted here)."""

from __future__ import annotations

import pytest

from antiphon.daemon.bench.loop import PAGES, LoopRun, loop_table, match_arrivals, run_loop
from antiphon.daemon.play.timing_trace import TimingTrace

ON, OFF = 0x90, 0x80


def test_sends_are_matched_with_arrivals_in_order():
    trace = TimingTrace()
    trace.sends += [
        (1.000, 1.0001, (ON, 60, 90)),
        (1.500, 1.5001, (OFF, 60, 0)),
        (2.000, 2.0001, (ON, 62, 90)),  # never arrives
        (2.500, 2.5001, (ON, 64, 90)),
        (None, 3.0, (OFF, 64, 0)),  # a release at stop: matched, no due time
    ]
    arrivals = [(1.0004, (ON, 60, 90)), (1.5050, (OFF, 60, 0)), (2.5002, (ON, 64, 90)),
                (3.0003, (OFF, 64, 0))]
    run = LoopRun("t")
    match_arrivals(trace, arrivals, run)
    assert (run.sent, run.received, run.dropped) == (5, 4, 1)
    assert run.port_errors == pytest.approx([0.0004, 0.005, 0.0002])
    assert run.late == 1  # 5 ms > 3 ms
    assert run.stuck_notes == 0
    table = "\n".join(loop_table([run]))
    assert "**misses**" in table and "1 / 1 / 0 of 5 sent" in table


def test_a_note_left_sounding_is_counted():
    run = LoopRun("t")
    match_arrivals(TimingTrace(), [(1.0, (ON, 60, 90))], run)
    assert run.stuck_notes == 1


@pytest.mark.jack
def test_a_short_loop_over_jack(jack_server):
    run = run_loop("short", exchanges=2, minutes=0, busy=False, model=None,
                   env=jack_server.env)
    assert run.exchanges == 2 and run.unanswered == 0
    # The test server runs without realtime scheduling, where JACK itself may lose an event
    # on a loaded machine; the benchmark reports drops, here they only must stay rare.
    assert run.sent > 0 and run.dropped <= run.sent // 10
    assert len(run.first_out) == 2 and all(t > 0 for t in run.first_out)
    # every message with a due time was timed at the recorder, never before its time
    timed = [m for m in run.matches if m[0] is not None and m[2] is not None]
    assert len(run.port_errors) == len(timed) > 0
    assert min(run.port_errors) > 0
    assert len(run.resident_kb) == 2 and run.resident_kb[0][1] > 0


def test_xruns_are_counted_from_the_jackd_log(tmp_path):
    from antiphon.daemon.bench.loop import count_xruns

    log = tmp_path / "jackd.log"
    log.write_text("JackEngine::XRun: client = Antiphon was not finished, state = Triggered\n"
                   "JackAudioDriver::ProcessGraphAsyncMaster: Process error\n"
                   "JackEngine::XRun: client = bench recorder was not finished, state = Running\n")
    assert count_xruns(log) == 2
    assert count_xruns(tmp_path / "missing.log") == 0


@pytest.mark.jack
def test_the_fault_run_recovers_from_every_fault(jack_server):
    """Floods, keyboard and synth churn and a JACK restart between exchanges: every fault
    is followed by answers, and nothing is left sounding."""
    from antiphon.daemon.bench.faults import FAULTS, faults_section, run_faults

    run = run_faults(model=None)
    assert [round_.fault for round_ in run.rounds] == list(FAULTS)
    for round_ in run.rounds:
        assert round_.answered >= 2, round_  # the first call after a JACK restart may miss
        assert round_.recover_seconds is not None and round_.recover_seconds > 0
    assert run.stuck_notes == 0
    assert run.exit_code == 0
    assert "| JACK restart |" in "\n".join(faults_section(run, "antiphon bench loop --faults"))


def test_resident_growth_compares_the_same_model_from_its_second_turn():
    from antiphon.daemon.bench.soak import Soak, resident_growth

    soak = Soak(resident=[(0, "default", 200.0), (1, "default", 210.0), (2, "transformer", 300.0),
                          (3, "default", 270.0), (4, "default", 271.0), (5, "nade", 290.0),
                          (6, "default", 272.5)])
    assert resident_growth(soak) == (270.0, 272.5, 2.5)
    assert resident_growth(Soak(resident=[(0, "default", 200.0)])) is None


@pytest.mark.jack
def test_a_short_soak_steered_through_the_control_socket(jack_server):
    """The soak of `bench loop --minutes --recorder`, scaled down to 10 exchanges: settings
    and models change through the control socket while it plays, with the session recorder
    and the web page on and a page reading its stream; every call is answered, the daemon
    leaves no note on, nothing is refused, and the same model costs the same memory."""
    from antiphon.daemon.bench.soak import resident_growth, soak_lines

    run = run_loop("soak", exchanges=10, minutes=0, busy=False, model=None,
                   env=jack_server.env, steer=True, swap_every=2, recorder=True)
    # Every page read the answer as it was sent (the releases at the stop aside: the pages
    # close first).
    assert run.page_rows > run.fewest_answer_rows * PAGES
    assert run.fewest_answer_rows >= run.sent - 20
    soak = run.soak
    assert soak is not None and soak.refused == []
    assert run.exchanges == 10 and run.unanswered <= 1
    assert run.stuck_sent == 0  # the daemon's own account; JACK may drop one under load
    assert soak.models_swapped >= 2 and soak.swapped_mid_answer >= 1
    assert soak.settings_changed == run.exchanges + 2 * -(-run.exchanges // 3)
    counters = soak.last_status["counters"]
    assert counters["model_swaps"] == soak.models_swapped
    assert counters["phrases"] >= run.exchanges - run.unanswered
    growth = resident_growth(soak)
    assert growth is not None and growth[2] < 20, soak.resident
    table = "\n".join(soak_lines(soak, run.exchanges, run.unanswered,
                                 (run.stuck_notes, run.stuck_sent), run.dropped, 1.0, 5.0))
    assert f"| {run.exchanges} | {run.unanswered} |" in table
