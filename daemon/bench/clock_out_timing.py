"""The clock-out part of `antiphon bench clock`: how evenly `antiphon run --clock-out` sends
its MIDI clock, over a private JACK server.

A listener client (`bench.recorder`, in a process of its own, so its timestamps never wait
for this process's threads) opens the port the daemon's clock connects to. The daemon runs
at one tempo, then at another (`set bpm` through its control socket). Measured: each pulse
interval against the nominal one, as the daemon sent them (its status: the sender's own
count of when each pulse left) and as the listener heard them (JACK moves MIDI once per
period, so a single interval heard is off by up to a period); and the tempo heard, from a
least-squares line through the pulses.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antiphon.daemon.bench.child_process import end_recorder, start_client
from antiphon.daemon.bench.daemon_process import kill_daemon, start_daemon, stop_daemon
from antiphon.daemon.bench.engine import antiphon_script, verdict
from antiphon.daemon.bench.loop import read_arrivals
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.midi_clock import CLOCK, PULSES_PER_BEAT, START, STOP

TEMPOS = (100.0, 140.0)
LISTENER_CLIENT = "bench clock listener"
TARGET_SENT_P99_MS = 1.0  # the daemon's own sends, interval against nominal
TARGET_TEMPO_ERROR = 0.005  # the tempo heard, of the tempo asked
SETTLE_SECONDS = 0.1  # after a tempo change, pulses of the old tempo may still arrive


@dataclass
class ClockOutRun:
    seconds_per_tempo: float
    sent_interval_ms: dict = field(default_factory=dict)  # the status' percentiles
    # per tempo asked: the pulses' arrival times at the listener
    heard: dict[float, list[float]] = field(default_factory=dict)
    start_first: bool = False  # the listener heard Start before any pulse
    stop_last: bool = False  # ... and Stop after the last one


def run_clock_out(seconds_per_tempo: float, model: str | None,
                  env: dict[str, str]) -> ClockOutRun:
    run = ClockOutRun(seconds_per_tempo)
    arrivals: list[tuple[float, tuple[int, ...]]] = []
    lock = threading.Lock()
    listener = start_client("recorder", ["", LISTENER_CLIENT], env, "the clock listener")
    reader = threading.Thread(target=read_arrivals, args=(listener, arrivals, lock),
                              daemon=True)
    reader.start()
    changes: list[float] = []
    daemon = None
    try:
        with tempfile.TemporaryDirectory(prefix="aph-clock-out-") as folder:
            socket = Path(folder) / "control.sock"
            command = [*antiphon_script(), "run", "--backend", "jack", "--no-record", "--bpm",
                       f"{TEMPOS[0]:g}", "--clock-out", LISTENER_CLIENT,
                       "--control-socket", str(socket), *(["--model", model] if model else [])]
            daemon, output = start_daemon(command, env)
            for index, bpm in enumerate(TEMPOS):
                if index:
                    ask(socket, {"command": "set", "key": "bpm", "value": f"{bpm:g}"})
                changes.append(time.perf_counter())
                # The first tempo waits for its bar line (Start) too.
                time.sleep(seconds_per_tempo + (4 * 60.0 / bpm if not index else 0.0))
            status = ask(socket, {"command": "status"})["status"]["clock_out"]
            run.sent_interval_ms = status["interval_error_ms"]
            stop_daemon(daemon, output)
        time.sleep(0.2)  # the Stop's way through JACK
    finally:
        if daemon is not None:
            kill_daemon(daemon)
        end_recorder(listener, reader, reader_timeout=2)
    with lock:
        statuses = [message[0] for _, message in arrivals if message]
        pulses = [at for at, message in arrivals if message == (CLOCK,)]
    run.start_first = bool(statuses) and statuses[:2] == [START, CLOCK]
    run.stop_last = bool(statuses) and statuses[-1] == STOP
    ends = [*changes[1:], float("inf")]
    for bpm, began, ended in zip(TEMPOS, changes, ends, strict=True):
        run.heard[bpm] = [at for at in pulses if began + SETTLE_SECONDS <= at < ended]
    return run


HELD_GAP = 0.3  # pulses this close behind the one before were held up (a stall)


def heard_tempo(pulses: list[float], bpm: float | None = None) -> float:
    """BPM of a least-squares line through pulse arrivals (0 with too few of them). Given
    the tempo sent (`bpm`), pulses the MIDI system held up and let go at once (and the one
    before them) are left out, and each other pulse is numbered by its gap from the one
    before, in whole periods (at least one), not counted as the next: a pulse lost on the
    way shifts nothing, and a tempo a little off `bpm` is still read as it is (one gap is
    never half a period off). The tempo of the clock as sent, not of as many pulses as
    arrived."""
    arrivals = np.asarray(pulses, dtype=float)
    numbers = np.arange(len(arrivals), dtype=float)
    if bpm is not None and len(arrivals) >= 3:
        nominal = 60.0 / bpm / PULSES_PER_BEAT
        burst = np.diff(arrivals) < HELD_GAP * nominal
        held = np.concatenate([burst, [False]]) | np.concatenate([[False], burst])
        arrivals = arrivals[~held]
        steps = np.maximum(1, np.round(np.diff(arrivals) / nominal))
        numbers = np.concatenate([[0.0], np.cumsum(steps)])
    if len(arrivals) < 3:
        return 0.0
    period = np.polyfit(numbers, arrivals, 1)[0]
    return 60.0 / (PULSES_PER_BEAT * period)


def heard_interval_errors_ms(pulses: list[float], bpm: float) -> np.ndarray:
    nominal = 60.0 / bpm / PULSES_PER_BEAT
    return np.abs(np.diff(np.asarray(pulses)) - nominal) * 1e3


def clock_out_section(run: ClockOutRun) -> list[str]:
    def cells(values) -> str:
        values = np.asarray(values)
        if not len(values):
            return "–"
        return (f"{np.percentile(values, 50):.2f} / {np.percentile(values, 99):.2f} / "
                f"{values.max():.2f}")

    sent = run.sent_interval_ms
    sent_cells = (f"{sent['p50']:.2f} / {sent['p99']:.2f} / {sent['max']:.2f}"
                  if sent.get("count") else "–")
    tempo_ok = all(abs(heard_tempo(pulses, bpm) - bpm) <= TARGET_TEMPO_ERROR * bpm
                   for bpm, pulses in run.heard.items())
    sent_ok = bool(sent.get("count")) and sent["p99"] <= TARGET_SENT_P99_MS
    rows = [
        f"| {bpm:g} | {len(pulses)} | {heard_tempo(pulses, bpm):.3f} | "
        f"{cells(heard_interval_errors_ms(pulses, bpm))} |"
        for bpm, pulses in run.heard.items()
    ]
    tempos = " → ".join(f"{bpm:g}" for bpm in TEMPOS)
    transport = ("Start before the first pulse, Stop after the last: "
                 f"{'yes' if run.start_first and run.stop_last else '**no**'}.")
    return [
        "Clock out: `antiphon run --clock-out` leads a listener client (in a process of its "
        f"own) for {run.seconds_per_tempo:g} s at each of {tempos} BPM (set through the "
        "control socket). |Interval error|: each pulse interval against the nominal one, as "
        "the daemon sent them (its status, over all the pulses) and as the listener heard "
        "them (JACK moves MIDI once per period, so a single interval heard is off by up to "
        "one). Tempo: a least-squares line through the pulses heard. Targets: sent p99 <= "
        f"{TARGET_SENT_P99_MS:g} ms, tempo within {TARGET_TEMPO_ERROR:.1%}. "
        f"Sent |interval error| p50 / p99 / max: {sent_cells} ms "
        f"({sent.get('count', 0)} pulses). {transport}",
        "",
        "| tempo asked (BPM) | pulses heard | tempo heard (BPM) | heard |interval error| p50 / "
        "p99 / max (ms) |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Clock out: {verdict(tempo_ok and sent_ok and run.start_first and run.stop_last)}.",
    ]
