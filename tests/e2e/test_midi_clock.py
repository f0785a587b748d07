"""`--clock midi` over the real JACK server: a clock-source client plays the DAW, sending
Start and 24 pulses per beat with up to a millisecond of jitter (and a tempo change), and
the answers must land on its beats.

Both sides are judged: the daemon by its own timing trace (when it sent the answer's first
note, against the source's beat), and the recorder by when the note arrived (JACK adds up to
a period to that: it moves MIDI once per period).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import rtmidi
from e2e_support import PHRASE, JackPlayer, wait_until

from antiphon.daemon.play.timing_trace import TimingTrace
from antiphon.daemon.service.control_socket import ask

pytestmark = pytest.mark.jack

JITTER_SECONDS = 0.001
PERIOD_SECONDS = 256 / 48000  # the test server's JACK period


class ClockSource:
    """A DAW's MIDI clock: Start, then pulses at a tempo (changeable), each sent up to a
    millisecond off its time, from a thread that waits for each time by spinning."""

    def __init__(self, bpm: float) -> None:
        self.port = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="e2e clock")
        names = self.port.get_ports()
        self.port.open_port(next(i for i, n in enumerate(names) if "Antiphon In" in n),
                            name="clock")
        self.bpm = bpm
        self.beat_times: list[float] = []  # the source's own grid: when each beat is
        self._stop = threading.Event()
        self._rng = np.random.default_rng(3)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        time.sleep(0.2)  # JACK makes the connection
        self._thread.start()

    def _run(self) -> None:
        self.port.send_message([0xFA])
        due, pulse = time.perf_counter() + 0.01, 0
        while not self._stop.is_set():
            if pulse % 24 == 0:
                self.beat_times.append(due)
            send_at = due + self._rng.uniform(-JITTER_SECONDS, JITTER_SECONDS)
            while time.perf_counter() < send_at:
                pass
            self.port.send_message([0xF8])
            pulse += 1
            due += 60.0 / self.bpm / 24
            rest = due - time.perf_counter() - 0.003
            if rest > 0:
                time.sleep(rest)

    def beats(self, since: float = 0.0) -> np.ndarray:
        return np.array([t for t in self.beat_times if t >= since])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.port.send_message([0xFC])
        self.port.close_port()


def onset_errors(times: list[float], grid: np.ndarray) -> list[float]:
    """Each time's distance to the nearest beat of the grid (signed: late is positive)."""
    return [float(t - grid[np.argmin(np.abs(grid - t))]) for t in times]


def play_and_hear_answers(daemon, tmp_path, tempo_change: float | None, report):
    trace_path = tmp_path / "trace.jsonl"
    source = ClockSource(100.0)
    process = daemon("--clock", "midi", "--max-opening-rest-beats", "0", "--max-answer-beats",
                     "2", "--min-answer-beats", "2", "--timing-trace", str(trace_path))
    keys = JackPlayer()
    try:
        source.start()
        time.sleep(2.0)  # a few beats for the follower to take the tempo
        firsts = []
        for round_ in range(3):
            if tempo_change is not None and round_ == 1:
                source.bpm = tempo_change  # mid-way: the next call is at the new tempo
            before = len(keys.note_ons())
            keys.play(PHRASE, 60.0 / source.bpm)
            assert wait_until(lambda b=before: len(keys.note_ons()) > b, 10), process.output()
            firsts.append(keys.note_ons()[before][0])
            wait_until(lambda: not keys.sounding(), 5)
        assert keys.sounding() == {}
        tempo = ask(process.socket, {"command": "status"})["status"]["tempo"]
    finally:
        source.close()
        keys.close()
        process.terminate()
    trace = TimingTrace.read(trace_path)
    sent_firsts = [next(sent for due, sent, message in trace.sends
                        if due is not None and message[0] & 0xF0 == 0x90 and sent >= first_due
                        - 0.01) for _, _, first_due in trace.answers]
    grid = source.beats()
    sent_errors = onset_errors(sent_firsts, grid)
    heard_errors = onset_errors(firsts, grid)
    report(f"answer onset against the DAW's beat ({'tempo change' if tempo_change else '100 BPM'}"
           ", MIDI clock with +-1 ms jitter)",
           f"sent {', '.join(f'{e * 1e3:+.1f}' for e in sent_errors)} ms (daemon's trace); "
           f"heard {', '.join(f'{e * 1e3:+.1f}' for e in heard_errors)} ms (recorder, JACK "
           f"period {PERIOD_SECONDS * 1e3:.1f} ms)")
    return sent_errors, heard_errors, tempo


def test_answers_land_on_the_daws_beats(daemon, tmp_path, report_measurement):
    sent, heard, tempo = play_and_hear_answers(daemon, tmp_path, None, report_measurement)
    assert len(sent) == 3
    assert max(abs(e) for e in sent) < 0.004, sent
    assert all(-0.004 < e < PERIOD_SECONDS + 0.008 for e in heard), heard
    assert tempo["source"] == "midi clock" and tempo["bpm"] == pytest.approx(100, rel=0.01)
    assert tempo["running"] is True


def test_answers_follow_a_tempo_change(daemon, tmp_path, report_measurement):
    sent, heard, tempo = play_and_hear_answers(daemon, tmp_path, 140.0, report_measurement)
    assert tempo["bpm"] == pytest.approx(140, rel=0.01)
    assert max(abs(e) for e in sent[1:]) < 0.004, sent  # at the new tempo, on its beats
    assert all(-0.004 < e < PERIOD_SECONDS + 0.008 for e in heard[1:]), heard


def test_a_daw_stop_silences_the_answer_and_no_call_is_answered_until_start(daemon):
    source = ClockSource(120.0)
    process = daemon("--clock", "midi", "--min-answer-beats", "16", "--max-answer-beats", "16")
    keys = JackPlayer()
    try:
        source.start()
        time.sleep(1.0)
        keys.play(PHRASE, 0.5)
        assert wait_until(lambda: keys.note_ons(), 10), process.output()
        source.port.send_message([0xFC])  # the DAW stops mid-answer
        assert wait_until(lambda: not keys.sounding(), 1), keys.sounding()
        heard = len(keys.note_ons())
        keys.play(PHRASE, 0.5)  # played while stopped: no answer
        time.sleep(3.0)
        assert len(keys.note_ons()) == heard
        assert "not answering" in process.output()
    finally:
        source.close()
        keys.close()
        process.terminate()
