"""The Link part of `antiphon bench clock`: how well `antiphon run --clock link` lands its
answers on the beats of a Link session another app runs.

This process is the band and the musician: a Link peer (the drummer's app) founds a session
at STEADY_BPM, the daemon joins it, a player plays calls at that tempo and a recorder
process timestamps what comes out. Onset error: the answer's first note (no opening rest,
so it is on a beat) when the daemon's timing trace says it sent it, and when the recorder
heard it, against the peer's beat grid. The grid is read from the peer right after each
answer (its beat at a perf_counter moment): Link's host clock and perf_counter may drift
apart by tens of parts per million, so one reading for a whole run would blur the figure.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antiphon.daemon.bench.clock import (
    STEADY_BPM,
    TARGET_P99_MS,
    answering_daemon,
    first_notes_sent,
)
from antiphon.daemon.bench.daemon_process import kill_daemon, start_daemon, stop_daemon
from antiphon.daemon.bench.engine import verdict
from antiphon.daemon.bench.link_peer import SETTLED_SESSION_SECONDS, LinkPeer
from antiphon.daemon.bench.loop import PHRASES, Musician
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

JOIN_TIMEOUT_SECONDS = 5.0


def link_available() -> bool:
    return importlib.util.find_spec("aalink") is not None


@dataclass
class LinkRun:
    exchanges: int = 0
    unanswered: int = 0
    sent_errors: list[float] = field(default_factory=list)  # the daemon's trace
    heard_errors: list[float] = field(default_factory=list)  # the recorder


def run_link(exchanges: int, model: str | None, env: dict[str, str], progress=None) -> LinkRun:
    run = LinkRun()
    grid: list[tuple[float, float]] = []  # (perf_counter moment, the peer's beat then)
    firsts: list[float] = []
    peer = LinkPeer(STEADY_BPM)
    try:
        time.sleep(SETTLED_SESSION_SECONDS)  # the older session: the daemon joins it
        with tempfile.TemporaryDirectory(prefix="aph-link-") as folder:
            trace_path, socket = Path(folder) / "trace.jsonl", Path(folder) / "control.sock"
            command = answering_daemon("link", socket, trace_path, model)
            daemon = None
            try:
                daemon, output = start_daemon(command, env)
                _wait_until_joined(socket)
                musician = Musician(env)
                try:
                    firsts = _exchanges(run, exchanges, peer, musician, grid, progress)
                finally:
                    musician.close()
                stop_daemon(daemon, output)
                trace = TimingTrace.read(trace_path)
            finally:
                if daemon is not None:
                    kill_daemon(daemon)
    finally:
        peer.close()
    seconds_per_beat = 60.0 / STEADY_BPM
    run.sent_errors = [grid_error(at, grid, seconds_per_beat) for at in first_notes_sent(trace)]
    run.heard_errors = [grid_error(at, grid, seconds_per_beat) for at in firsts]
    return run


def _wait_until_joined(socket: Path) -> None:
    deadline = time.perf_counter() + JOIN_TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        tempo = ask(socket, {"command": "status"})["status"]["tempo"]
        if tempo.get("peers", 0) >= 1 and abs(tempo["bpm"] - STEADY_BPM) < 0.01:
            return
        time.sleep(0.05)
    raise RuntimeError(f"antiphon run --clock link did not join the bench's Link session "
                       f"within {JOIN_TIMEOUT_SECONDS:g} s (its tempo: {tempo})")


def _exchanges(run: LinkRun, exchanges: int, peer: LinkPeer, musician: Musician,
               grid: list[tuple[float, float]], progress) -> list[float]:
    """Calls and answers at the session's tempo; returns each answer's first arrival."""
    firsts = []
    seconds_per_beat = 60.0 / STEADY_BPM
    for index in range(exchanges):
        since = len(musician.received())
        musician.play(PHRASES[index % len(PHRASES)], seconds_per_beat)
        answered = musician.wait_for_answer(since, seconds_per_beat)
        grid.append(peer.sample())
        run.unanswered += not answered
        arrivals = [t for t, m in musician.received()[since:] if m[0] & 0xF0 == 0x90 and m[2]]
        if answered and arrivals:
            firsts.append(arrivals[0])
        run.exchanges += 1
        if progress is not None:
            progress(run)
    return firsts


def grid_error(at: float, grid: list[tuple[float, float]], seconds_per_beat: float) -> float:
    """`at`'s signed distance (seconds, late is positive) to the nearest beat of the peer,
    by the reading of its grid nearest in time."""
    read_at, beat = min(grid, key=lambda reading: abs(reading[0] - at))
    beats = beat + (at - read_at) / seconds_per_beat
    return (beats - round(beats)) * seconds_per_beat


def link_section(run: LinkRun) -> list[str]:
    sent = np.abs(np.asarray(run.sent_errors)) * 1e3
    heard = np.asarray(run.heard_errors) * 1e3
    sent_ok = len(sent) > 0 and np.percentile(sent, 99) <= TARGET_P99_MS

    def cells(values: np.ndarray) -> str:
        if not len(values):
            return "–"
        return (f"{np.percentile(values, 50):.2f} / {np.percentile(values, 99):.2f} / "
                f"{np.abs(values).max():.2f}")

    return [
        f"Ableton Link: a Link peer in the bench's process founds a session at {STEADY_BPM:g} "
        "BPM, `antiphon run --clock link` joins it (both on this machine), and calls are "
        "played at that tempo. Onset error of the answer's first "
        "note against the peer's beats: when the daemon's trace says it sent it (|error|), "
        "and when the recorder heard it (signed: JACK's delivery included). Target: sent "
        f"p99 <= {TARGET_P99_MS:g} ms.",
        "",
        "| exchanges | sent onset error p50 / p99 / max (ms) | heard onset error p50 / p99 / "
        "max (ms) | target |",
        "| --- | --- | --- | --- |",
        f"| {run.exchanges} ({run.unanswered} unanswered) | {cells(sent)} | {cells(heard)} | "
        f"{verdict(sent_ok and run.unanswered == 0)} |",
    ]


LINK_NOT_MEASURED = ["Ableton Link: not measured (aalink is not installed: "
                     "pip install 'antiphon[link]')."]
