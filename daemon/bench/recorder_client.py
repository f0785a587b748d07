"""The band's recorder of `antiphon bench clock`: one JACK client that hears both the clock
source and Antiphon's output on one port, as a DAW recording the band hears them, so the
answer's notes are judged where they are heard, against the source's ticks.

The client is `bench.recorder` in a process of its own (its port polled by a reader thread,
no rtmidi callback; timestamps from JACK's cycles, on the clock every process shares), with
a virtual input port that this process connects, through python-jack-client, to the clock
source's port and to Antiphon's output. JACK stamps both kinds of message the same way
(the start of the cycle that delivers them), so an answer heard in the same cycle as the
tick it is meant for is 0 ms off it.

Two references for a tick, both printed: when the source sent it (its own clock: the DAW's
grid, what a DAW compensating its own input latency lines a recording up with), and when
this recorder heard it (one trip through the MIDI system, which the answer's early send
takes out of the answer but not of the tick).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from antiphon.daemon.bench.child_process import end_recorder, start_client
from antiphon.daemon.bench.loop import read_arrivals
from antiphon.daemon.play.midi_clock import CLOCK

RECORDER_CLIENT = "bench band recorder"
RECORDER_PORT = f"{RECORDER_CLIENT}:in"
CONNECT_TIMEOUT_SECONDS = 5.0
TICK_SLACK_SECONDS = 0.002  # a tick heard this much before its send's stamp still counts
MEET_MEDIAN_MS = 1.0  # the target at the recorder: |median| within this...
MEET_SPREAD_MS = 3.0  # ...and p99 of |offset - median| within this


class BandRecorder:
    """The recorder process, connected to `sources` (JACK port names) as they appear."""

    def __init__(self, sources: list[str], env: dict[str, str]) -> None:
        self.arrivals: list[tuple[float, tuple[int, ...]]] = []
        self._lock = threading.Lock()
        self._sources = list(sources)
        self._process = start_client("recorder", ["", RECORDER_CLIENT], env,
                                     "the band's recorder")
        self._reader = threading.Thread(
            target=read_arrivals, args=(self._process, self.arrivals, self._lock),
            daemon=True)
        self._reader.start()
        from antiphon.daemon.midi.jack_links import _import_jack

        self._jack = _import_jack()
        self._client = self._jack.Client(f"{RECORDER_CLIENT} links", no_start_server=True)

    def connect(self) -> None:
        """Connect every source port (they may still be opening) to the recorder's port."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
        for source in self._sources:
            while True:
                try:
                    self._client.connect(source, RECORDER_PORT)
                    break
                except self._jack.JackError as err:
                    if self._connected(source):  # connected already: no failure
                        break
                    if time.monotonic() > deadline:
                        raise OSError(f"cannot connect {source!r} to the band's recorder: "
                                      f"{err}") from None
                    time.sleep(0.05)

    def _connected(self, source: str) -> bool:
        try:
            return any(port.name == RECORDER_PORT
                       for port in self._client.get_all_connections(source))
        except self._jack.JackError:  # the source's port is not there yet
            return False

    def heard(self) -> list[tuple[float, tuple[int, ...]]]:
        with self._lock:
            return list(self.arrivals)

    def close(self) -> None:
        try:
            self._client.close()
        except self._jack.JackError:
            pass
        end_recorder(self._process, self._reader)


def heard_ticks(arrivals: list[tuple[float, tuple[int, ...]]],
                beat_times: list[float]) -> list[float | None]:
    """When the recorder heard each beat's tick (the first pulse heard at or after the
    source sent it; None where none was heard within a pulse of it)."""
    pulses = np.sort(np.array([at for at, message in arrivals if message == (CLOCK,)]))
    ticks: list[float | None] = []
    for index, sent in enumerate(beat_times):
        after = pulses[pulses >= sent - TICK_SLACK_SECONDS]
        gap = (beat_times[index + 1] - sent) / 24 if index + 1 < len(beat_times) else 0.02
        ticks.append(float(after[0]) if len(after) and after[0] - sent < gap else None)
    return ticks


def answer_onsets(arrivals: list[tuple[float, tuple[int, ...]]],
                  firsts: list[float]) -> list[float]:
    """The recorder's time of each answer's first note-on (`firsts`: when the player's
    recorder heard it; the note-on heard nearest, within 10 ms)."""
    note_ons = np.array([at for at, message in arrivals
                         if len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2]])
    onsets = []
    for first in firsts:
        if len(note_ons):
            nearest = note_ons[np.argmin(np.abs(note_ons - first))]
            if abs(nearest - first) < 0.01:
                onsets.append(float(nearest))
    return onsets


def offsets_to(onsets: list[float], ticks: list[float | None]) -> list[float]:
    """Each onset's signed distance to the nearest tick (late is positive)."""
    known = np.array([tick for tick in ticks if tick is not None])
    if not len(known):
        return []
    return [float(onset - known[np.argmin(np.abs(known - onset))]) for onset in onsets]


@dataclass(frozen=True)
class Offsets:
    """Signed offsets summed up: the median, and the spread about it (p99 of |offset -
    median|, and the p1..p99 range), in milliseconds."""

    count: int
    median_ms: float
    spread_p99_ms: float
    p1_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Offsets | None:
        if not seconds:
            return None
        values = np.asarray(seconds) * 1e3
        median = float(np.median(values))
        return cls(len(values), median, float(np.percentile(np.abs(values - median), 99)),
                   float(np.percentile(values, 1)), float(np.percentile(values, 99)))

    def meets(self) -> bool:
        """The issue's target: median within 1 ms, spread p99 <= 3 ms."""
        return abs(self.median_ms) <= MEET_MEDIAN_MS and self.spread_p99_ms <= MEET_SPREAD_MS

    def cell(self) -> str:
        return (f"{self.median_ms:+.2f} / {self.spread_p99_ms:.2f} "
                f"({self.p1_ms:+.2f}..{self.p99_ms:+.2f})")
