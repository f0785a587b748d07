"""`antiphon bench clock`: how well `antiphon run --clock midi` lands its answers on a DAW's
beats, over a private JACK server.

This process is the DAW and the musician: a clock source sends Start and 24 pulses per beat,
each up to a millisecond off its time (USB-MIDI's jitter), a player plays calls at the
source's tempo, and a recorder process timestamps what comes out. Measured:

- onset error: the answer's first note (the daemon plays it with no opening rest, so it is
  on a beat) when the daemon's timing trace says it sent it, against the source's beats as
  they reached the daemon (so what the MIDI system adds is left out: the target's terms);
  and when the recorder heard it, against the source's own grid (all of it included);
- settle: after the source jumps from one tempo to another, the beats until the daemon's
  tempo (asked through its control socket, every 20 ms) stays within 1 % of the new one.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antiphon.daemon.bench.clock_source import JITTER_SECONDS
from antiphon.daemon.bench.daemon_process import kill_daemon, start_daemon, stop_daemon
from antiphon.daemon.bench.engine import antiphon_script, verdict
from antiphon.daemon.bench.loop import PHRASES, Musician
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

STEADY_BPM = 100.0
CHANGE_BPM = (90.0, 140.0)
SETTLED_WITHIN = 0.01  # of the new tempo
TARGET_P99_MS = 2.0  # beyond what the MIDI system adds: the daemon's own sends
TARGET_SETTLE_BEATS = 1.0
MATCH_SECONDS = 0.02  # a planned first note is found within this of its plan


class ClockSource:
    """The DAW: `bench.clock_source` in a process of its own, sending Start and pulses into
    "Antiphon In"; `beat_times` is its grid, when it sent each beat's first pulse."""

    def __init__(self, bpm: float, env: dict[str, str] | None = None,
                 own_port: bool = False) -> None:
        self.bpm = bpm
        self.beat_times: list[float] = []
        self.beat_numbers: list[int] = []  # each beat's number in the song (Start: 0)
        self.changes: list[tuple[float, float]] = []  # (moment, new bpm)
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "antiphon.daemon.bench.clock_source", f"{bpm:g}",
             *(["--own-port"] if own_port else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self._process.stdout is not None
        ready = self._process.stdout.readline()
        if not ready.startswith("ready"):
            self._process.kill()
            raise OSError(f"the clock source did not start: {ready!r}")
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        self._reader.start()

    def _read(self) -> None:
        for line in self._process.stdout:
            kind, *values = line.split()
            with self._lock:
                if kind == "beat":
                    self.beat_times.append(float(values[0]))
                    self.beat_numbers.append(int(values[1]))
                elif kind == "tempo":
                    self.changes.append((float(values[0]), float(values[1])))
                    self.bpm = float(values[1])

    def _command(self, text: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(text + "\n")
        self._process.stdin.flush()

    def change(self, bpm: float) -> None:
        """From the next beat on, `bpm`."""
        self._command(f"tempo {bpm:g}")

    def restart_transport(self) -> None:
        """MIDI Start while playing: the song from its top (the next pulse is beat 0)."""
        self._command("start")

    def song_position(self, sixteenths: int) -> None:
        """A Song Position Pointer (send it while stopped; `continue_transport` then)."""
        self._command(f"position {sixteenths}")

    def continue_transport(self) -> None:
        self._command("continue")

    def stop_transport(self) -> None:
        """MIDI Stop (the pulses go on, as a stopped DAW's do)."""
        self._command("stop")

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()  # Stop, and the source exits
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._reader.join(2)


def arrival_beats(trace: TimingTrace, source_beats: list[float]) -> list[float]:
    """The source's beats as they reached the daemon (from its trace), one per beat the
    source sent: a line through the pulses that arrived within half a beat of it (numbered
    by their time, so a pulse lost on the way shifts nothing), evaluated at the beat (a
    single pulse carries the jitter of its own delivery). A beat with too few pulses around
    it (the run's first and last) is the source's beat plus the median delivery delay.
    Against these, what the MIDI system adds is left out."""
    pulses = np.array([arrived for arrived, message, _ in trace.receives if message == (0xF8,)])
    fitted: list[float | None] = []
    for index, beat in enumerate(source_beats):
        neighbour = source_beats[index + 1] if index + 1 < len(source_beats) else None
        if neighbour is None and index:
            neighbour = 2 * beat - source_beats[index - 1]
        period = (neighbour - beat) / 24 if neighbour is not None else 0.0
        window = pulses[(pulses > beat - 12 * period) & (pulses < beat + 12 * period)]
        if period <= 0 or len(window) < 12:
            fitted.append(None)
            continue
        numbers = np.round((window - beat) / period)  # delivery delays are < half a pulse
        slope, intercept = np.polyfit(numbers, window, 1)
        fitted.append(float(intercept))
    delays = [at - beat for at, beat in zip(fitted, source_beats, strict=True) if at is not None]
    delay = float(np.median(delays)) if delays else 0.0
    return [beat + delay if at is None else at
            for at, beat in zip(fitted, source_beats, strict=True)]


def first_notes(trace: TimingTrace) -> list[tuple[float, float]]:
    """Each answer's first note by the daemon's trace: (due, sent), its due time by the
    clock as it was sent, and when it left. That due time can differ by a little from the
    one planned (a followed clock re-anchors at every pulse), so the note is found within
    MATCH_SECONDS of the plan, not at it exactly."""
    note_ons = [(due, sent) for due, sent, message in trace.sends
                if due is not None and message[0] & 0xF0 == 0x90 and message[2]]
    return [next((due, sent) for due, sent in note_ons if due >= first_due - MATCH_SECONDS)
            for _, _, first_due in trace.answers]


def first_notes_sent(trace: TimingTrace) -> list[float]:
    """When each answer's first note left, by the daemon's trace."""
    return [sent for _, sent in first_notes(trace)]


def onset_errors(times: list[float], grid: list[float]) -> list[float]:
    """Each time's signed distance to the nearest beat of `grid` (late is positive)."""
    beats = np.asarray(grid)
    return [float(t - beats[np.argmin(np.abs(beats - t))]) for t in times] if len(beats) else []


@dataclass
class ClockRun:
    exchanges: int = 0
    unanswered: int = 0
    sent_errors: list[float] = field(default_factory=list)  # the daemon's trace
    heard_errors: list[float] = field(default_factory=list)  # the recorder
    settle_beats: list[float] = field(default_factory=list)  # per tempo change
    final_bpm: float = 0.0


def answering_daemon(clock: str, socket: Path, trace_path: Path,
                     model: str | None) -> list[str]:
    """`antiphon run` as the clock benchmarks run it: two-beat answers with no opening rest,
    so each answer's first note is on a beat, and a timing trace to read them from."""
    return [*antiphon_script(), "run", "--backend", "jack", "--no-record", "--clock", clock,
            "--bpm", f"{STEADY_BPM:g}", "--max-opening-rest-beats", "0",
            "--min-answer-beats", "2", "--max-answer-beats", "2", "--seed", "0",
            "--control-socket", str(socket), "--timing-trace", str(trace_path),
            *(["--model", model] if model else [])]


def run_clock(exchanges: int, model: str | None, env: dict[str, str], progress=None) -> ClockRun:
    run = ClockRun()
    firsts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="aph-clock-") as folder:
        trace_path, socket = Path(folder) / "trace.jsonl", Path(folder) / "control.sock"
        command = answering_daemon("midi", socket, trace_path, model)
        daemon = None
        try:
            daemon, output = start_daemon(command, env)
            source, musician = ClockSource(STEADY_BPM, env), Musician(env)
            try:
                source.start()
                time.sleep(2.0)  # the follower takes the tempo
                firsts = _exchanges(run, exchanges, source, musician, progress)
                for bpm in CHANGE_BPM:
                    run.settle_beats.append(_settle(source, socket, bpm))
                run.final_bpm = ask(socket, {"command": "status"})["status"]["tempo"]["bpm"]
            finally:
                source.close()
                musician.close()
            stop_daemon(daemon, output)
            trace = TimingTrace.read(trace_path)
        finally:
            if daemon is not None:
                kill_daemon(daemon)
    sent_firsts = first_notes_sent(trace)
    run.sent_errors = onset_errors(sent_firsts, arrival_beats(trace, source.beat_times))
    run.heard_errors = onset_errors(firsts, source.beat_times)
    return run


def _exchanges(run: ClockRun, exchanges: int, source: ClockSource, musician: Musician,
               progress) -> list[float]:
    """Calls and answers at the steady tempo; returns each answer's first arrival."""
    firsts = []
    for index in range(exchanges):
        since = len(musician.received())
        musician.play(PHRASES[index % len(PHRASES)], 60.0 / source.bpm)
        answered = musician.wait_for_answer(since, 60.0 / source.bpm)
        run.unanswered += not answered
        arrivals = [t for t, m in musician.received()[since:] if m[0] & 0xF0 == 0x90 and m[2]]
        if answered and arrivals:
            firsts.append(arrivals[0])
        run.exchanges += 1
        if progress is not None:
            progress(run)
    return firsts


def _settle(source: ClockSource, socket: Path, bpm: float) -> float:
    """Jump the source to `bpm`; beats until the daemon's tempo stays within 1 % of it."""
    source.change(bpm)
    deadline = time.perf_counter() + 4 * 60.0 / bpm + 1
    samples: list[tuple[float, float]] = []
    while time.perf_counter() < deadline:
        samples.append((time.perf_counter(),
                        ask(socket, {"command": "status"})["status"]["tempo"]["bpm"]))
        time.sleep(0.02)
    changed_at = next((at for at, new in source.changes if new == bpm), samples[0][0])
    settled = changed_at
    for at, estimate in samples:
        if abs(estimate - bpm) > SETTLED_WITHIN * bpm:
            settled = at
    return max(0.0, settled - changed_at) * bpm / 60.0


def clock_section(run: ClockRun, command: str, period_frames: int | None = None,
                  sample_rate: int = 48000) -> list[str]:
    sent = np.abs(np.asarray(run.sent_errors)) * 1e3
    heard = np.asarray(run.heard_errors) * 1e3
    sent_ok = len(sent) > 0 and np.percentile(sent, 99) <= TARGET_P99_MS
    settle_ok = bool(run.settle_beats) and max(run.settle_beats) <= TARGET_SETTLE_BEATS

    def cells(values: np.ndarray) -> str:
        if not len(values):
            return "–"
        return (f"{np.percentile(values, 50):.2f} / {np.percentile(values, 99):.2f} / "
                f"{np.abs(values).max():.2f}")

    tempos = (STEADY_BPM, *CHANGE_BPM)
    changes = ", ".join(f"{tempos[index]:g} → {tempos[index + 1]:g} BPM: {beats:.2f}"
                        for index, beats in enumerate(run.settle_beats))
    return [
        f"`{command}`",
        "",
        f"A clock source client sends Start and 24 pulses per beat at {STEADY_BPM:g} BPM, each "
        f"up to {JITTER_SECONDS * 1e3:g} ms off its time; a player plays calls at that tempo "
        "and `antiphon run --clock midi` answers with no opening rest, so its first note is "
        "on a beat. Onset error: when the daemon's timing trace says it sent that note, "
        "against the source's beats as they reached the daemon (|error|: the MIDI system "
        "left out), and when a recorder client heard it, against the source's own beats "
        "(signed: JACK's delivery both ways included). Settle: beats after the tempo jumps "
        "until the daemon's tempo (its status, every 20 ms) stays within 1 %. "
        + ("" if period_frames is None else
           f"A private JACK server, dummy backend, period {period_frames} frames "
           f"({period_frames / sample_rate * 1e3:.2f} ms: JACK moves MIDI once per period). ")
        + f"Targets: sent p99 <= {TARGET_P99_MS:g} ms, settle <= {TARGET_SETTLE_BEATS:g} beat.",
        "",
        "| exchanges | sent onset error p50 / p99 / max (ms) | heard onset error p50 / p99 / "
        "max (ms) | settle (beats) | target |",
        "| --- | --- | --- | --- | --- |",
        f"| {run.exchanges} ({run.unanswered} unanswered) | {cells(sent)} | {cells(heard)} | "
        f"{changes or '–'} | {verdict(sent_ok and settle_ok and run.unanswered == 0)} |",
    ]
