"""`antiphon bench clock`: how well `antiphon run --clock midi` lands its answers on a DAW's
beats, over a private JACK server.

This process is the DAW and the musician: a clock source sends Start and 24 pulses per beat,
each up to a millisecond off its time (USB-MIDI's jitter), a player plays calls at the
source's tempo, and the band's recorder (`recorder_client.py`, a process of its own on one
JACK port) hears both the source's ticks and the answers. Measured, at 100 and 130 BPM:

- sent: the answer's first note (the daemon plays it with no opening rest, so it is on a
  beat) when the daemon's timing trace says it left, against where the daemon meant it to
  leave: the source's beat as it reached the daemon, less the input and output delays its
  status states (its latency compensation); the daemon's own precision;
- heard: when the band's recorder heard that note, against the source's tick as the source
  sent it (its grid) and as the recorder heard it; the signed offset (median) and the
  spread about it apart (p99 of |offset - median|, and p1..p99);
- settle: after the source jumps from one tempo to another, the beats until the daemon's
  tempo (asked through its control socket, every 20 ms) stays within 1 % of the new one.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antiphon.daemon.bench.child_process import start_client
from antiphon.daemon.bench.clock_source import JITTER_SECONDS
from antiphon.daemon.bench.daemon_process import kill_daemon, start_daemon, stop_daemon
from antiphon.daemon.bench.engine import antiphon_script, verdict
from antiphon.daemon.bench.loop import PHRASES, Musician
from antiphon.daemon.bench.recorder_client import (
    MEET_MEDIAN_MS,
    MEET_SPREAD_MS,
    BandRecorder,
    Offsets,
    answer_onsets,
    heard_ticks,
    offsets_to,
)
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

STEADY_BPM = 100.0
TEMPOS = (100.0, 130.0)  # the answers are measured at each (the first is STEADY_BPM)
FINAL_BPM = 90.0  # a last jump, for a second settle
SOURCE_PORT = "bench clock:clock"  # the clock source's JACK port
ANTIPHON_OUT_PORT = "Antiphon Out:out"  # the daemon's own output port on JACK
SETTLED_WITHIN = 0.01  # of the new tempo
TARGET_P99_MS = 2.0  # the daemon's own sends, against where it meant them to leave
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
        self._process = start_client(
            "clock_source", [f"{bpm:g}", *(["--own-port"] if own_port else [])], env,
            "the clock source")
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
    clock as it was sent (its beat's: it leaves the output latency before), and when it
    left. That due time can differ by a little from the one planned (a followed clock
    re-anchors at every pulse), so the note is found within MATCH_SECONDS of the plan, not
    at it exactly."""
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
class TempoOffsets:
    """One tempo's answers: signed offsets in seconds (late is positive)."""

    sent: list[float] = field(default_factory=list)  # trace: left - meant to leave
    to_sent_ticks: list[float] = field(default_factory=list)  # recorder - source's send
    to_heard_ticks: list[float] = field(default_factory=list)  # recorder - tick heard


@dataclass
class ClockRun:
    exchanges: int = 0
    unanswered: int = 0
    tempos: dict[float, TempoOffsets] = field(default_factory=dict)
    settle_beats: list[float] = field(default_factory=list)  # per tempo change
    final_bpm: float = 0.0
    latency: dict = field(default_factory=dict)  # the daemon's status: what it compensates


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
    """`exchanges` calls and answers in all, half at each of TEMPOS."""
    run = ClockRun()
    per_tempo = [exchanges - exchanges // 2, exchanges // 2]
    firsts: dict[float, list[float]] = {}
    began: dict[float, float] = {}
    with tempfile.TemporaryDirectory(prefix="aph-clock-") as folder:
        trace_path, socket = Path(folder) / "trace.jsonl", Path(folder) / "control.sock"
        command = answering_daemon("midi", socket, trace_path, model)
        daemon = None
        try:
            daemon, output = start_daemon(command, env)
            recorder = BandRecorder([SOURCE_PORT, ANTIPHON_OUT_PORT], env)
            source, musician = ClockSource(STEADY_BPM, env), Musician(env)
            try:
                recorder.connect()
                source.start()
                time.sleep(2.0)  # the follower takes the tempo
                run.latency = ask(socket, {"command": "status"})["status"]["latency"] or {}
                for bpm, count in zip(TEMPOS, per_tempo, strict=True):
                    if bpm != source.bpm:
                        run.settle_beats.append(_settle(source, socket, bpm))
                    began[bpm] = time.perf_counter()
                    firsts[bpm] = _exchanges(run, count, source, musician, progress)
                run.settle_beats.append(_settle(source, socket, FINAL_BPM))
                run.final_bpm = ask(socket, {"command": "status"})["status"]["tempo"]["bpm"]
            finally:
                source.close()
                musician.close()
                recorder.close()
            stop_daemon(daemon, output)
            trace = TimingTrace.read(trace_path)
        finally:
            if daemon is not None:
                kill_daemon(daemon)
    lead = (run.latency.get("input_ms", 0.0) + run.latency.get("output_ms", 0.0)) / 1e3
    meant = [beat - lead for beat in arrival_beats(trace, source.beat_times)]
    sent = first_notes_sent(trace)
    heard = recorder.heard()
    ticks = heard_ticks(heard, source.beat_times)
    starts = [began[bpm] for bpm in TEMPOS] + [float("inf")]
    for index, bpm in enumerate(TEMPOS):
        within = [at for at in sent if starts[index] <= at < starts[index + 1]]
        onsets = answer_onsets(heard, firsts[bpm])
        run.tempos[bpm] = TempoOffsets(
            sent=onset_errors(within, meant),
            to_sent_ticks=onset_errors(onsets, source.beat_times),
            to_heard_ticks=offsets_to(onsets, ticks))
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
    settle_ok = bool(run.settle_beats) and max(run.settle_beats) <= TARGET_SETTLE_BEATS
    summed = {bpm: (Offsets.of(offsets.sent), Offsets.of(offsets.to_sent_ticks),
                    Offsets.of(offsets.to_heard_ticks))
              for bpm, offsets in run.tempos.items()}
    sent_ok = all(sent is not None and abs(sent.median_ms) + sent.spread_p99_ms
                  <= TARGET_P99_MS for sent, _, _ in summed.values()) and bool(summed)

    def cell(offsets: Offsets | None) -> str:
        return "–" if offsets is None else offsets.cell()

    def target(column: int) -> bool:
        return bool(summed) and all(row[column] is not None and row[column].meets()
                                    for row in summed.values())

    tempos = (*TEMPOS, FINAL_BPM)
    changes = ", ".join(f"{tempos[index]:g} → {tempos[index + 1]:g} BPM: {beats:.2f}"
                        for index, beats in enumerate(run.settle_beats))
    latency = run.latency
    compensated = (f"{latency['output_ms']:g} ms out, {latency['input_ms']:g} ms in "
                   f"({latency['from']})" if latency else "none stated")
    rows = [f"| {bpm:g} | {len(run.tempos[bpm].to_sent_ticks)} | {cell(sent)} | "
            f"{cell(to_sent)} | {cell(to_heard)} |"
            for bpm, (sent, to_sent, to_heard) in summed.items()]
    return [
        f"`{command}`",
        "",
        f"A clock source client sends Start and 24 pulses per beat, each up to "
        f"{JITTER_SECONDS * 1e3:g} ms off its time; a player plays calls at its tempo "
        f"({' and '.join(f'{bpm:g}' for bpm in TEMPOS)} BPM, half the exchanges each) and "
        "`antiphon run --clock midi` answers with no opening rest, so its first note is on "
        "a beat. The daemon compensates the latency its status states: "
        f"{compensated}. Offsets are signed (late is positive), as median / spread (p99 of "
        "|offset - median|) and p1..p99, in ms. Sent: when the daemon's timing trace says "
        "the note left, against when it meant it to leave (the source's beat as it reached "
        "the daemon, less the input and output delays). Heard: when the band's recorder (one "
        "JACK client hearing the source and the answers on one port) heard the note, "
        "against the source's tick as the source sent it (its grid) and as the recorder "
        "heard it (one trip through JACK, which the answer's early send does not add). "
        "Settle: beats after the tempo jumps until the daemon's tempo (its status, every "
        "20 ms) stays within 1 %. "
        + ("" if period_frames is None else
           f"A private JACK server, dummy backend, period {period_frames} frames "
           f"({period_frames / sample_rate * 1e3:.2f} ms: JACK moves MIDI once per period). ")
        + f"Targets: sent |median| + spread <= {TARGET_P99_MS:g} ms, settle <= "
        f"{TARGET_SETTLE_BEATS:g} beat; heard (issue 19): |median| <= {MEET_MEDIAN_MS:g} ms "
        f"and spread <= {MEET_SPREAD_MS:g} ms at each tempo.",
        "",
        "| tempo (BPM) | answers heard | sent (ms) | heard, against the ticks as sent (ms) "
        "| heard, against the ticks as heard (ms) |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Exchanges: {run.exchanges} ({run.unanswered} unanswered). Settle (beats): "
        f"{changes or '–'}. Sent and settle: "
        f"{verdict(sent_ok and settle_ok and run.unanswered == 0)}. "
        f"Heard at the recorder, against the ticks as sent: {verdict(target(1))}; "
        f"against the ticks as heard: {verdict(target(2))}.",
    ]
