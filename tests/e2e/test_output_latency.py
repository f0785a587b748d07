"""Latency compensation over the real JACK server: the status states what the daemon
compensates (on JACK, learned from the server: a pulse timed back half the test server's
period, the output's delay its port's playback latency, 0 between clients), and
`--output-latency-ms` sends the answer that much before it is meant to be heard, as the
daemon's timing trace shows (each answer's first note: when it was meant to sound, its due
time, and when it left)."""

from __future__ import annotations

import subprocess

import pytest
from e2e_support import (
    PHRASE,
    SENT_TOLERANCE_SECONDS,
    JackPlayer,
    antiphon_command,
    call_and_hear_answer,
)

from antiphon.daemon.bench.clock import first_notes
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

pytestmark = pytest.mark.jack

HALF_PERIOD_MS = 256 / 48000 / 2 * 1e3  # the test server's period is 256 frames
FAST_BPM = "240"  # a short call and a short answer


def test_the_status_states_the_latency_learned_from_jack(daemon, jack_server):
    process = daemon()
    latency = ask(process.socket, {"command": "status"})["status"]["latency"]
    human = subprocess.run(antiphon_command("status", "--control-socket", str(process.socket)),
                           env={**jack_server.env, "COLUMNS": "200"}, capture_output=True,
                           text=True, timeout=30)
    process.terminate()
    assert human.returncode == 0, human.stderr
    assert f"latency: output 0 ms (sent that much early), input {latency['input_ms']:g} ms" \
        in human.stdout  # as a person reads the status, too
    assert latency["output_ms"] == 0.0
    assert latency["input_ms"] == pytest.approx(HALF_PERIOD_MS, abs=0.01)
    assert "JACK: period 256 frames at 48000 Hz" in latency["from"]


def test_output_latency_ms_sends_the_answer_that_much_early(daemon, tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    process = daemon("--output-latency-ms", "30", "--bpm", FAST_BPM,
                     "--max-opening-rest-beats", "0", "--min-answer-beats", "2",
                     "--max-answer-beats", "2", "--timing-trace", str(trace_path))
    keys = JackPlayer()
    try:
        latency = ask(process.socket, {"command": "status"})["status"]["latency"]
        call_and_hear_answer(keys, process, PHRASE[:3], 60.0 / float(FAST_BPM))
    finally:
        keys.close()
    process.terminate()
    assert latency["output_ms"] == 30.0 and "--output-latency-ms 30" in latency["from"]
    trace = TimingTrace.read(trace_path)
    (_, _, meant), = trace.answers  # when the first note is meant to sound
    (due, sent), = first_notes(trace)
    assert due == pytest.approx(meant, abs=1e-3)  # the trace's due: the beat's time...
    assert -0.001 < sent - (due - 0.030) < SENT_TOLERANCE_SECONDS  # ...left 30 ms before
