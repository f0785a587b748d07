"""`antiphon bench loop --faults`: exchanges while the world misbehaves.

A JACK server of the benchmark's own carries a player (a virtual keyboard port Antiphon
connects to with `--in`) and a recorder in a process of its own (a virtual synth port, with
`--out`). Between rounds of exchanges it throws one fault at `antiphon run`:

- flood: 10,000 messages a second for a few seconds into its input;
- keyboard churn: the player's port deleted and created again under the same name;
- synth churn: the recorder quits (with the answer's notes on) and comes back;
- JACK restart: the server killed (SIGKILL) and started again under the same name.

For each it reports the answers missed (a call with no answer), the time to recover (from
the fault's end to the first answer note heard after it), the notes left sounding on the
live synth when the run ends, and the daemon's resident memory before and after.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from antiphon.daemon.bench.child_process import start_client
from antiphon.daemon.bench.daemon_process import wait_until_ready
from antiphon.daemon.bench.engine import antiphon_script, resident_kb
from antiphon.daemon.bench.loop import (
    BPM,
    PHRASES,
    play_phrase,
    read_arrivals,
)
from antiphon.daemon.midi.backends import jack_server_running
from antiphon.daemon.midi.ports import RtMidiOutput

FAULTS = ("flood", "keyboard churn", "synth churn", "JACK restart")
FLOOD_SECONDS = 3.0
FLOOD_PER_SECOND = 10_000
EXCHANGES_PER_ROUND = 3


@dataclass
class FaultRound:
    fault: str
    answered: int = 0
    missed: int = 0
    recover_seconds: float | None = None  # fault over -> first answer note heard


@dataclass
class FaultRun:
    rounds: list[FaultRound] = field(default_factory=list)
    stuck_notes: int = 0
    resident_mb: tuple[float, float] = (0.0, 0.0)
    exit_code: int | None = None


class Band:
    """The player (virtual keyboard) and the recorder process (virtual synth)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.arrivals: list[tuple[float, tuple[int, ...]]] = []
        self._lock = threading.Lock()
        self.live_from = 0  # the first message the live recorder heard
        self.keys = RtMidiOutput("jack", None, "keys", "bench player")
        self.recorder = self.start_recorder()

    def start_recorder(self) -> subprocess.Popen:
        recorder = start_client("recorder", ["", "bench synth"], self.env, "the bench recorder")
        with self._lock:  # what earlier recorders heard died with them
            self.live_from = len(self.arrivals)
        threading.Thread(target=read_arrivals, args=(recorder, self.arrivals, self._lock),
                         daemon=True).start()
        return recorder

    def reopen(self) -> None:
        """A new keyboard and a new synth on a JACK server started again (the old ones
        died with the old server)."""
        self.keys = RtMidiOutput("jack", None, "keys", "bench player")
        self.recorder = self.start_recorder()

    def received(self) -> list[tuple[float, tuple[int, ...]]]:
        with self._lock:
            return list(self.arrivals)

    def restart_keys(self, pause: float) -> None:
        self.keys.close()
        time.sleep(pause)
        self.keys = RtMidiOutput("jack", None, "keys", "bench player")

    def restart_recorder(self) -> None:
        self.stop_recorder(kill=True)
        self.recorder = self.start_recorder()

    def stop_recorder(self, kill: bool = False) -> None:
        if kill:
            self.recorder.kill()
        else:
            self.recorder.stdin.close()
        self.recorder.wait(10)

    def play(self, phrase, seconds_per_beat: float) -> None:
        play_phrase(self.keys, phrase, seconds_per_beat)

    def flood(self, seconds: float, per_second: int) -> None:
        rng = random.Random(5)
        sent, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            while sent < elapsed * per_second:
                pitch = rng.randrange(36, 96)
                self.keys.send((0x90, pitch, 100))
                self.keys.send((0x80, pitch, 0))
                sent += 2
            time.sleep(0.001)

    def sounding_since(self, index: int) -> int:
        counts: dict[tuple[int, int], int] = {}
        for _, message in self.received()[index:]:
            if len(message) != 3 or message[0] & 0xE0 != 0x80:
                continue
            key = (message[0] & 0x0F, message[1])
            on = message[0] & 0xF0 == 0x90 and message[2] > 0
            counts[key] = counts.get(key, 0) + 1 if on else max(0, counts.get(key, 0) - 1)
        return sum(counts.values())


def start_jackd(name: str) -> subprocess.Popen:
    server = subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r",
                               "48000", "-p", "256"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not jack_server_running():
        if server.poll() is not None or time.monotonic() > deadline:
            raise OSError("jackd did not start")
        time.sleep(0.1)
    return server


def run_faults(model: str | None, progress=None) -> FaultRun:
    """The fault run on a JACK server of its own (see the module docstring)."""
    name = f"antiphon-bench-faults-{os.getpid()}"
    saved = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"], os.environ["JACK_NO_START_SERVER"] = name, "1"
    env = dict(os.environ)
    server = start_jackd(name)
    run = FaultRun()
    seconds_per_beat = 60.0 / BPM
    daemon = None
    try:
        # A short folder: the control socket's path is at most 107 bytes.
        with tempfile.TemporaryDirectory(prefix="aph-faults-") as folder:
            command = [*antiphon_script(), "run", "--backend", "jack", "--no-record",
                       "--bpm", f"{BPM:g}",
                       "--control-socket", str(Path(folder) / "control.sock"),
                       "--max-answer-beats", "2", "--seed", "0", "--in", "bench player",
                       "--out", "bench synth", "--reconnect-timeout", "60",
                       *(["--model", model] if model else [])]
            band = Band(env)
            daemon = subprocess.Popen(command, env={**env, "COLUMNS": "200"}, text=True,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, cwd=folder)
            output: list[str] = []
            wait_until_ready(daemon, output)
            threading.Thread(target=lambda: output.extend(daemon.stdout), daemon=True).start()
            time.sleep(0.5)  # the keeper connects the player and the synth
            before = resident_kb(daemon.pid) / 1024
            for fault in FAULTS:
                round_ = FaultRound(fault)
                if fault == "flood":
                    band.flood(FLOOD_SECONDS, FLOOD_PER_SECOND)
                elif fault == "keyboard churn":
                    band.restart_keys(pause=0.5)
                elif fault == "synth churn":
                    band.restart_recorder()
                else:
                    band.stop_recorder(kill=True)
                    server.send_signal(signal.SIGKILL)
                    server.wait()
                    time.sleep(1.0)
                    server = start_jackd(name)
                    band.reopen()
                fault_over = time.perf_counter()
                for _ in range(EXCHANGES_PER_ROUND):
                    since = len(band.received())
                    band.play(PHRASES[len(run.rounds) % len(PHRASES)], seconds_per_beat)
                    if _answered(band, since, deadline=time.perf_counter() + 10):
                        round_.answered += 1
                        if round_.recover_seconds is None:
                            first = next(t for t, m in band.received()[since:]
                                         if m[0] & 0xF0 == 0x90 and m[2])
                            round_.recover_seconds = first - fault_over
                    else:
                        round_.missed += 1
                run.rounds.append(round_)
                if progress is not None:
                    progress(round_)
            after = resident_kb(daemon.pid) / 1024
            run.resident_mb = (before, after)
            time.sleep(1.0)
            run.stuck_notes = band.sounding_since(band.live_from)
            daemon.terminate()
            run.exit_code = daemon.wait(30)
            band.keys.close()
            band.stop_recorder()
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
        server.terminate()
        server.wait(10)
        if saved is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = saved
    return run


def _answered(band: Band, since: int, deadline: float) -> bool:
    """An answer began after message `since` and every note of it ended."""
    while time.perf_counter() < deadline:
        time.sleep(0.05)
        messages = band.received()[since:]
        if any(m[0] & 0xF0 == 0x90 and m[2] for _, m in messages) and \
                band.sounding_since(since) == 0 and time.perf_counter() - messages[-1][0] > 0.5:
            return True
    return False


def faults_section(run: FaultRun, command: str) -> list[str]:
    lines = [
        f"`{command}`",
        "",
        f"`antiphon run` at {BPM:g} BPM with `--in` a player's port and `--out` a recorder's "
        f"(a process of its own), on a JACK server of the benchmark's own; "
        f"{EXCHANGES_PER_ROUND} calls after each fault. Recovery: from the end of the fault to "
        "the first answer note heard after it (includes the call itself).",
        "",
        "| fault | answered | missed | recovery (s) |",
        "| --- | --- | --- | --- |",
    ]
    for round_ in run.rounds:
        recover = "–" if round_.recover_seconds is None else f"{round_.recover_seconds:.2f}"
        lines.append(f"| {round_.fault} | {round_.answered} | {round_.missed} | {recover} |")
    before, after = run.resident_mb
    lines += ["", f"Notes left sounding on the live synth at the end: {run.stuck_notes}. "
              f"Resident memory {before:.0f} → {after:.0f} MB. Exit status on SIGTERM: "
              f"{run.exit_code}."]
    return lines

