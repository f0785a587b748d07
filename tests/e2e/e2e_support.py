"""Running `antiphon` as a subprocess and talking to it over JACK MIDI, for e2e tests."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import rtmidi

from antiphon.daemon.control.socket_server import ask

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0  # loading the model on a busy machine
BPM = 120
BEAT = 60 / BPM
SILENCE_BEATS = 1.0
PHRASE = [(60, 0.5), (62, 0.5), (64, 0.5), (65, 0.5), (67, 1.0), (64, 0.5), (62, 0.5)]  # 4 beats
# From the last release: the silence, up to one beat to the grid, and one more beat for a
# model that opens its answer with a short rest; plus room for a slow machine.
ANSWER_BOUND_SECONDS = (SILENCE_BEATS + 1 + 1) * BEAT + 0.25


def client_name(role: str) -> str:
    """A test client's JACK name: its role, and this process's id. libjack names a client's
    notification socket after the client alone (/dev/shm/jack_<client>_<uid>_0), not its
    server, so two same-named clients opening at once in two test workers (each on a JACK
    server of its own) take each other's socket (as `backends.helper_client_name` says).
    Antiphon finds one by its role all the same: `--in`, `--out` match a part of a name."""
    return f"{role} {os.getpid()}"


def antiphon_command(*args: str) -> list[str]:
    """The installed console script when there is one, else the module."""
    script = Path(sys.executable).with_name("antiphon")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "antiphon.daemon", *args]


def e2e_model_path() -> Path:
    """The model `antiphon run` would load: ANTIPHON_MODEL if set, else the shipped default.
    Skips the test while no such file exists."""
    from antiphon.exported_models import MODELS_DIR, default_model_path

    if override := os.environ.get("ANTIPHON_MODEL"):
        return Path(override)
    try:
        return default_model_path()
    except FileNotFoundError:
        pytest.skip(f"{MODELS_DIR / 'default.onnx'} is not shipped yet")


def backend_args() -> list[str]:
    """Let `--backend auto` find JACK where it would (no ALSA sequencer); else say jack."""
    return [] if not os.path.exists("/dev/snd/seq") else ["--backend", "jack"]


class DaemonProcess:
    """`antiphon run` in a subprocess, its stderr collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            antiphon_command("run", *args), env={**env, "COLUMNS": "200"},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.trace_path: Path | None = None  # its --timing-trace, where the test gave one
        # (when, {(channel, pitch): count}): notes a recorder still heard sounding, to be
        # judged by the trace (JackPlayer.released)
        self.unheard_releases: list[tuple[float, dict[tuple[int, int], int]]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := regex.search(line):
                    return match
            if self.process.poll() is not None:
                self._reader.join(1.0)
                break
            time.sleep(0.02)
        pytest.fail(f"no line matching {pattern!r} from antiphon; it said:\n{self.output()}")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"antiphon did not stop on SIGTERM:\n{self.output()}")
        self._reader.join(2.0)
        return code


class JackPlayer:
    """A keyboard and a recorder: JACK clients connected to Antiphon's ports. The recorder
    is read by a polling thread (antiphon's own RtMidiInput), never by an rtmidi callback:
    Python on JACK's realtime thread would lose messages under load."""

    def __init__(self, in_port: str | None = "Antiphon In",
                 out_port: str | None = "Antiphon Out") -> None:
        from antiphon.daemon.midi.ports import RtMidiInput

        self.keyboard = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client_name("e2e keyboard"))
        if in_port is None:  # a keyboard Antiphon connects to by itself (--in)
            self.keyboard.open_virtual_port("keys")
        else:
            self.keyboard.open_port(_index(self.keyboard.get_ports(), in_port), name="keys")
        self.received: list[tuple[float, list[int]]] = []
        self._lock = threading.Lock()
        # Releases the MIDI system lost on the way, that the daemon's trace is to confirm
        # it sent (`released`): counted as heard.
        self._lost_releases: dict[tuple[int, int], int] = defaultdict(int)
        # out_port None: a synth Antiphon connects to by itself (--out "e2e recorder")
        self.recorder = RtMidiInput("jack", out_port, "rec", client_name("e2e recorder"))
        self.recorder.set_receiver(self._on_message)
        time.sleep(0.2)  # let JACK make the connections

    def _on_message(self, arrived: float, message: list[int]) -> None:
        with self._lock:
            self.received.append((arrived, list(message)))

    def messages(self) -> list[tuple[float, list[int]]]:
        with self._lock:
            return list(self.received)

    def note_ons(self) -> list[tuple[float, list[int]]]:
        return [(t, m) for t, m in self.messages() if m[0] & 0xF0 == 0x90 and m[2] > 0]

    def sounding(self) -> dict[tuple[int, int], int]:
        """(channel, pitch) -> note-ons received without a note-off yet."""
        counts: dict[tuple[int, int], int] = defaultdict(int)
        for _, message in self.messages():
            if len(message) != 3:
                continue
            status, key = message[0] & 0xF0, (message[0] & 0x0F, message[1])
            if status == 0x90 and message[2] > 0:
                counts[key] += 1
            elif status in (0x80, 0x90):
                counts[key] = max(0, counts[key] - 1)  # a panic releases what never sounded
        for key, lost in self._lost_releases.items():
            counts[key] = max(0, counts[key] - lost)
        return {key: count for key, count in counts.items() if count}

    def released(self, process: DaemonProcess, timeout: float) -> bool:
        """Whether every note the recorder heard struck is released within `timeout`, by
        the recorder's word or, for a daemon that keeps a timing trace, by the daemon's.

        JACK without realtime scheduling (this VM's) drops a message between two clients
        now and then under load: a release the daemon sent may never reach the recorder.
        Then the notes still sounding here are kept, with the moment, for the daemon's
        trace to judge when it stops (`judge_unheard_releases`): a release it never sent
        fails the test there; one it sent is reported as lost on the way, and counted as
        heard from now on."""
        if wait_until(lambda: not self.sounding(), timeout):
            return True
        if process.trace_path is None:
            return False
        left = self.sounding()
        process.unheard_releases.append((time.perf_counter(), left))
        for key, count in left.items():
            self._lost_releases[key] += count
        return True

    def play(self, notes: list[tuple[int, float]], seconds_per_beat: float) -> float:
        """Play (pitch, beats) notes, slightly detached; returns the last release's time."""
        for pitch, beats in notes:
            self.keyboard.send_message([0x90, pitch, 96])
            time.sleep(beats * seconds_per_beat * 0.9)
            self.keyboard.send_message([0x80, pitch, 0])
            released = time.perf_counter()
            time.sleep(beats * seconds_per_beat * 0.1)
        return released

    def close(self) -> None:
        self.keyboard.close_port()
        self.keyboard.delete()
        self.recorder.close()


def judge_unheard_releases(process: DaemonProcess) -> str | None:
    """The daemon's own word on the releases a recorder did not hear (`released`), once it
    has stopped and written its trace: fails the test for a note whose release it never
    sent; otherwise says how many releases the MIDI system lost on the way (None: none)."""
    from antiphon.daemon.play.timing_trace import TimingTrace

    if not process.unheard_releases:
        return None
    try:
        sends = list(TimingTrace.read(process.trace_path).sends)
    except (OSError, ValueError) as err:
        pytest.fail(f"notes left sounding at the recorder: {process.unheard_releases}, and "
                    f"the daemon's trace to judge them cannot be read ({err})")
    lost = 0
    for when, left in process.unheard_releases:
        sounding: dict[tuple[int, int], int] = defaultdict(int)
        for _, sent, message in sends:
            if sent > when or len(message) != 3 or message[0] & 0xF0 not in (0x80, 0x90):
                continue
            key = (message[0] & 0x0F, message[1])
            if message[0] & 0xF0 == 0x90 and message[2] > 0:
                sounding[key] += 1
            else:
                sounding[key] = max(0, sounding[key] - 1)
        never_released = {key: sounding[key] for key in left if sounding[key]}
        if never_released:
            pytest.fail(f"notes left sounding: {never_released} (channel, pitch): the "
                        f"daemon's trace shows no release sent for them\n{process.output()}")
        lost += sum(left.values())
    return (f"{lost} release(s) the daemon sent (its trace) that the recorder never heard, "
            f"at {len(process.unheard_releases)} check(s)")


def _index(ports: list[str], name: str) -> int:
    for index, port in enumerate(ports):
        if name in port:
            return index
    pytest.fail(f"no JACK port {name!r} among {ports}")


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def answers_finished(process) -> int:
    """How many answers the daemon says played to their end (its status counter)."""
    return ask(process.socket, {"command": "status"})["status"]["counters"]["answers"]


def call_and_hear_answer(keys: JackPlayer, process, phrase, beat_seconds: float) -> float:
    """Play a call and wait until its answer has played out; the moment its first note was
    heard. The end is the daemon's word, not a moment of silence at the recorder: an answer
    may rest between its notes, and a next call played into that rest would cut it."""
    heard_before = len(keys.note_ons())
    finished_before = answers_finished(process)
    keys.play(phrase, beat_seconds)
    assert wait_until(lambda: len(keys.note_ons()) > heard_before, 10), process.output()
    assert wait_until(lambda: answers_finished(process) > finished_before, 10), process.output()
    assert keys.released(process, 2), keys.sounding()
    return keys.note_ons()[heard_before][0]


# What the clock tests hold the daemon to: each answer's first note due on the band's beat
# (the followed clock's reading of the pulses: their jitter, not the machine's load) and
# sent near that due time, loosely (a loaded machine wakes a thread late; how late is
# `antiphon bench clock`'s to measure). Loose still catches an answer off the grid: a
# sixteenth note at 140 BPM is 107 ms.
DUE_TOLERANCE_SECONDS = 0.005
SENT_TOLERANCE_SECONDS = 0.05


def answer_onsets_due(trace) -> list[float]:
    """When each answer's first note was due, by the daemon's trace, having checked that it
    left near then."""
    from antiphon.daemon.bench.clock import first_notes

    firsts = first_notes(trace)
    late = [sent - due for due, sent in firsts]
    assert all(abs(seconds) < SENT_TOLERANCE_SECONDS for seconds in late), late
    return [due for due, _ in firsts]


# How far from the call's frame grid an answer note may be due, by the daemon's trace: the
# daemon reads a call on its tick grid (24 ticks a beat), so the grid starts up to half a
# tick (10 ms at 120 BPM) from where the first note arrived; and 2 ms for the input's delay.
GRID_TOLERANCE_SECONDS = BEAT / 24 / 2 + 0.002


def frame_grid_misses(trace, first_pitch: int, frame: float) -> list[list[float]]:
    """For each call that began with `first_pitch` (as the daemon received it, by its
    trace), how far each answer note-on sent before the next such call was due off the
    frame grid laid from that first note, in seconds; every one of them sent within
    SENT_TOLERANCE_SECONDS of its due time. By the daemon's own account, so what the MIDI
    system adds on the way to a recorder (a period, or a loaded machine's stall) is left
    out; the recorder checks that the answer was heard at all."""
    starts = [arrived for arrived, message, kept in trace.receives
              if kept and len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2] > 0
              and message[1] == first_pitch]
    misses = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else float("inf")
        onsets = [(due, sent) for due, sent, message in trace.sends
                  if start < sent < end and due is not None and len(message) == 3
                  and message[0] & 0xF0 == 0x90 and message[2] > 0]
        assert all(abs(sent - due) < SENT_TOLERANCE_SECONDS for due, sent in onsets), onsets
        phases = [((due - start) / frame) % 1.0 for due, _ in onsets]
        misses.append([min(phase, 1.0 - phase) * frame for phase in phases])
    return misses


TRIADS = ((0, 4, 7), (2, 5, 9), (4, 7, 11), (5, 9, 12))  # on 16 keys from C4


def triad_trained_frame_model(folder: Path, family: str, model_config: dict, frames: int,
                              frames_per_beat: int, steps: int, batch_size: int) -> Path:
    """A piano-roll `family` trained for `steps` steps on pieces of `frames` frames of
    triads held a beat each (16 keys from C4), so it answers notes, exported to ONNX."""
    import numpy as np

    from antiphon.engine.pianoroll import PianoRollCodecConfig
    from antiphon.training.export import export_frame_model
    from antiphon.training.fit.frame_pipeline import FrameTask
    from antiphon.training.fit.loop import train_task
    from antiphon.training.fit.train_config import TrainConfig

    rng = np.random.default_rng(0)

    def pieces(count: int) -> list[np.ndarray]:
        rolls = []
        for _ in range(count):
            roll = np.zeros((frames, 16), dtype=bool)
            for frame in range(0, frames, frames_per_beat):
                roll[frame:frame + frames_per_beat, TRIADS[rng.integers(0, len(TRIADS))]] = True
            rolls.append(roll)
        return rolls

    codec = PianoRollCodecConfig(keys=16, lowest_pitch=60, frames_per_beat=frames_per_beat,
                                 distinguish_onsets=False)
    best = train_task(folder / "run", FrameTask({"train": pieces(32), "valid": pieces(4)}, codec),
                      model_config, TrainConfig(epochs=1, steps_per_epoch=steps,
                                                batch_size=batch_size, window=frames, lr=1e-2,
                                                warmup_steps=5, transpose=(0, 0)),
                      family=family)
    path = folder / f"{family}.onnx"
    export_frame_model(best, path, f"{family}-e2e", parity_steps=24)
    return path
