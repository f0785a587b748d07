"""`antiphon bench loop`: Antiphon end to end over a real MIDI system, timed at the ports.

A private JACK server (dummy backend) carries the MIDI. `antiphon run` runs as its own
process with `--timing-trace`, so it records when it meant each message to leave and when
it did. This process is the musician: a player client plays a phrase into Antiphon's input,
a recorder client (a process of its own, `bench.recorder`) timestamps every message that
comes out of its output, and the player waits for the answer to end before the next phrase.
Afterwards the recorder's arrivals are matched, in order, with the daemon's sends:

- decision -> first note out: from the daemon deciding the call is over to the answer's
  first note leaving the port (this includes the musical wait for the next beat);
- timing error: arrival at the recorder minus the time the scheduler meant, per message;
- dropped: sent by the daemon, never received; late: more than 3 ms after its time.

Both processes read the same clock (`time.perf_counter`, CLOCK_MONOTONIC on Linux).
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

from antiphon.daemon.bench.child_process import end_recorder, start_client
from antiphon.daemon.bench.daemon_process import kill_daemon, start_daemon, stop_daemon
from antiphon.daemon.bench.engine import antiphon_script, resident_kb, verdict
from antiphon.daemon.bench.page_reader import PageReader, free_port, page_address
from antiphon.daemon.bench.soak import SWAP_EVERY, Soak, StageHand, soak_lines
from antiphon.daemon.control.web.server import MAX_BROWSERS
from antiphon.daemon.midi.ports import RtMidiOutput
from antiphon.daemon.play.timing_trace import TimingTrace

BPM = 240.0  # brisk, so 100 exchanges take minutes, not a quarter of an hour
ANSWER_BEATS = (2.0, 4.0)  # --min-answer-beats, --max-answer-beats
LATE_SECONDS = 0.003  # the "max <= 3 ms": a message later than this is late
TARGET_P99_MS = 1.0
TARGET_MAX_MS = 3.0
TARGET_RESIDENT_MB = 250.0
FLAT_GROWTH_MB = 5.0  # resident memory growth over a run that still counts as flat
# An arrival more than this after its send is not that send's (it was dropped): far beyond
# any JACK period, far below the time between two answers.
MATCH_WINDOW_SECONDS = 0.25
# With the recorder: pages following the web page's stream, as many as it serves at once.
PAGES = MAX_BROWSERS
# The calls the player takes turns with: (MIDI pitch, beats) per note.
PHRASES = (
    ((60, 0.5), (64, 0.5), (67, 0.5), (72, 0.5)),
    ((69, 1.0), (67, 0.5), (65, 0.5), (64, 1.0)),
    ((62, 0.5), (65, 0.5), (69, 0.5), (67, 0.5), (64, 1.0)),
)


def play_phrase(keys: RtMidiOutput, phrase: tuple[tuple[int, float], ...],
                seconds_per_beat: float) -> None:
    """Play (pitch, beats) notes, slightly detached, as a player would."""
    for pitch, beats in phrase:
        keys.send((0x90, pitch, 96))
        time.sleep(beats * seconds_per_beat * 0.9)
        keys.send((0x80, pitch, 0))
        time.sleep(beats * seconds_per_beat * 0.1)


def read_arrivals(recorder: subprocess.Popen, arrivals: list, lock: threading.Lock) -> None:
    """Append (seconds, message) for each line the recorder process writes, until it ends."""
    assert recorder.stdout is not None
    for line in recorder.stdout:
        arrived, *message = line.split()
        with lock:
            arrivals.append((float(arrived), tuple(int(b) for b in message)))


class Musician:
    """A player client wired to Antiphon's input, and a recorder client on its output that
    runs in a process of its own (`bench.recorder`: its timestamps never wait for this
    process's threads)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.arrivals: list[tuple[float, tuple[int, ...]]] = []
        self._lock = threading.Lock()
        self.keys = RtMidiOutput("jack", "Antiphon In", client_name="bench player")
        try:
            self._recorder = start_client("recorder", ["Antiphon Out"], env,
                                          "the bench recorder")
        except OSError:
            self.keys.close()
            raise
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        read_arrivals(self._recorder, self.arrivals, self._lock)

    def received(self) -> list[tuple[float, tuple[int, ...]]]:
        with self._lock:
            return list(self.arrivals)

    def play(self, phrase: tuple[tuple[int, float], ...], seconds_per_beat: float) -> None:
        play_phrase(self.keys, phrase, seconds_per_beat)

    def wait_for_answer(self, since: int, seconds_per_beat: float,
                        began: threading.Event | None = None) -> bool:
        """Wait until an answer came after message `since` and has gone quiet (no note
        sounding, nothing for two beats); `began` is set when its first message came.
        False on a timeout (no answer)."""
        deadline = time.perf_counter() + (4 + 2 * ANSWER_BEATS[1]) * seconds_per_beat + 5
        while time.perf_counter() < deadline:
            time.sleep(seconds_per_beat / 4)
            messages = self.received()[since:]
            if not messages:
                continue
            if began is not None:
                began.set()
            sounding: set[int] = set()
            for _, (status, pitch, velocity) in messages:
                if status & 0xF0 == 0x90 and velocity:
                    sounding.add(pitch)
                else:
                    sounding.discard(pitch)
            quiet = time.perf_counter() - messages[-1][0] > 2 * seconds_per_beat
            if not sounding and quiet:
                return True
        return False

    def close(self) -> None:
        self.keys.close()
        end_recorder(self._recorder, self._reader)


@dataclass
class LoopRun:
    label: str
    exchanges: int = 0
    unanswered: int = 0
    seconds: float = 0.0
    first_out: list[float] = field(default_factory=list)  # decision -> first note out
    first_scheduled: list[float] = field(default_factory=list)  # decision -> scheduled
    send_errors: list[float] = field(default_factory=list)  # sent - due (daemon's side)
    port_errors: list[float] = field(default_factory=list)  # arrival - due (recorder)
    sent: int = 0
    received: int = 0
    dropped: int = 0
    late: int = 0
    stuck_notes: int = 0  # note-ons received without a note-off by the end
    stuck_sent: int = 0  # the daemon's own account: note-ons it sent without a note-off
    longest_gc: float = 0.0
    collections: int = 0
    jack_xruns: int | None = None  # cycles in which a JACK client was not finished in time
    resident_kb: list[tuple[float, int]] = field(default_factory=list)  # (elapsed, kB)
    # What was matched, kept for a closer look: (due, sent, arrived or None, message).
    matches: list[tuple[float | None, float, float | None, tuple[int, ...]]] = field(
        default_factory=list, repr=False)
    soak: Soak | None = None  # what was changed through the control socket, when steered
    minutes: float = 0.0  # asked for
    # With the recorder and the web page on: the take's rows the pages read, and the
    # answer's messages among them that the page that read fewest read.
    page_rows: int | None = None
    fewest_answer_rows: int | None = None


def match_arrivals(trace: TimingTrace, arrivals: list[tuple[float, tuple[int, ...]]],
                   run: LoopRun) -> None:
    """Pair each send with the first unclaimed arrival of the same bytes that came after it
    (within MATCH_WINDOW_SECONDS); a send with no such arrival was dropped. Arrivals keep
    the order of the sends (one port), so the search goes forward only."""
    run.sent, run.received = len(trace.sends), len(arrivals)
    claimed = [False] * len(arrivals)
    position = 0  # every arrival before this one is claimed or too old for what follows
    for due, sent, message in trace.sends:
        while position < len(arrivals) and (
                claimed[position] or arrivals[position][0] < sent - MATCH_WINDOW_SECONDS):
            position += 1
        found = None
        for index in range(position, len(arrivals)):
            arrived, received = arrivals[index]
            if arrived > sent + MATCH_WINDOW_SECONDS:
                break
            if not claimed[index] and received == message:
                found = index
                break
        run.matches.append((due, sent, None if found is None else arrivals[found][0], message))
        if found is None:
            run.dropped += 1
            continue
        claimed[found] = True
        if due is None:
            continue  # a release on a stop or barge-in: sent at once, no due time
        run.send_errors.append(sent - due)
        error = arrivals[found][0] - due
        run.port_errors.append(error)
        run.late += error > LATE_SECONDS
    run.stuck_notes = left_sounding(message for _, message in arrivals)
    run.stuck_sent = left_sounding(message for _, _, message in trace.sends)


def left_sounding(messages) -> int:
    """Note-ons without their note-off at the end of a stream of messages."""
    sounding: dict[tuple[int, int], int] = {}
    for message in messages:
        if len(message) != 3:
            continue
        status, pitch, velocity = message
        key = (status & 0x0F, pitch)
        if status & 0xF0 == 0x90 and velocity:
            sounding[key] = sounding.get(key, 0) + 1
        elif status & 0xF0 in (0x80, 0x90):
            sounding[key] = sounding.get(key, 0) - 1
    return sum(count for count in sounding.values() if count > 0)


def run_loop(label: str, exchanges: int, minutes: float, busy: bool, model: str | None,
             env: dict[str, str], progress=None, steer: bool = False,
             swap_every: int = SWAP_EVERY, recorder: bool = False) -> LoopRun:
    """One run: start `antiphon run`, play `exchanges` calls (and for at least `minutes`),
    stop it, and match what came out with what it meant to send. With `steer`, settings
    and models change through the control socket as it plays (the soak). With `recorder`
    the daemon records its take and serves its web page, which PAGES page readers (as
    many browsers as it serves at once) follows; without, neither."""
    run = LoopRun(label, minutes=minutes)
    seconds_per_beat = 60.0 / BPM
    # A short folder: a Unix socket's path is at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="aph-loop-") as folder:
        trace_path = Path(folder) / "trace.jsonl"
        socket = Path(folder) / "control.sock"  # its own: a user's daemon may be running
        command = [*antiphon_script(), "run", "--backend", "jack", "--bpm", f"{BPM:g}",
                   "--min-answer-beats", f"{ANSWER_BEATS[0]:g}",
                   "--max-answer-beats", f"{ANSWER_BEATS[1]:g}", "--seed", "0",
                   "--control-socket", str(socket),
                   "--timing-trace", str(trace_path), *(["--model", model] if model else []),
                   *(["--record-folder", str(Path(folder) / "takes"), "--web",
                      "--web-port", str(free_port())] if recorder else ["--no-record"])]
        burner = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                  if busy else None)
        daemon = None
        pages: list[PageReader] = []
        try:
            daemon, output = start_daemon(command, env)
            if recorder:
                pages = [PageReader(page_address(output)) for _ in range(PAGES)]
            musician = Musician(env)
            hand = StageHand(socket, model, swap_every) if steer else None
            try:
                began = time.perf_counter()
                while run.exchanges < exchanges or time.perf_counter() - began < minutes * 60:
                    since = len(musician.received())
                    answer_began = threading.Event()
                    if hand is not None:
                        hand.before_call(run.exchanges)
                        hand.during_answer(run.exchanges, answer_began)
                    musician.play(PHRASES[run.exchanges % len(PHRASES)], seconds_per_beat)
                    run.unanswered += not musician.wait_for_answer(since, seconds_per_beat,
                                                                   answer_began)
                    answer_began.set()  # a swap still waiting goes ahead: none will come
                    if hand is not None:
                        hand.after_answer(run.exchanges)
                    run.exchanges += 1
                    run.resident_kb.append((time.perf_counter() - began,
                                            resident_kb(daemon.pid)))
                    if progress is not None:
                        progress(run)
                run.seconds = time.perf_counter() - began
                stop_daemon(daemon, output)
                time.sleep(0.2)  # the releases at stop reach the recorder
            finally:
                musician.close()
            run.soak = None if hand is None else hand.soak
            arrivals = musician.received()
            trace = TimingTrace.read(trace_path)
        finally:
            for page in pages:
                page.close()
            if pages:
                run.page_rows = sum(page.rows for page in pages)
                run.fewest_answer_rows = min(page.answer_rows for page in pages)
            if daemon is not None:
                kill_daemon(daemon)
            if burner is not None:
                burner.kill()
                burner.wait()
    match_arrivals(trace, arrivals, run)
    first_sends = [sent for due, sent, message in trace.sends
                   if due is not None and message[0] & 0xF0 == 0x90 and message[2]]
    for decided, scheduled, first_due in trace.answers:
        run.first_scheduled.append(scheduled - decided)
        out = next((sent for sent in first_sends if sent >= first_due - 0.01), None)
        if out is not None:
            run.first_out.append(out - decided)
    run.collections = len(trace.collections)
    run.longest_gc = max((seconds for _, _, seconds in trace.collections), default=0.0)
    return run


def count_xruns(jackd_log: Path) -> int:
    """Clients JACK found unfinished at a cycle's end, from the server's log: each such
    cycle may lose the MIDI of that client, whichever program it belongs to."""
    if not jackd_log.is_file():
        return 0
    return jackd_log.read_text(errors="replace").count("was not finished")


# -- the report ---------------------------------------------------------------------------
def ms(values: list[float]) -> str:
    if not values:
        return "–"
    array = np.asarray(values) * 1e3
    return (f"{np.percentile(array, 50):.2f} / {np.percentile(array, 99):.2f} / "
            f"{array.max():.2f}")


def resident_cell(run: LoopRun) -> tuple[str, bool]:
    if not run.resident_kb:
        return "–", False
    # From the second exchange: the first answer still touches pages for the first time.
    samples = run.resident_kb[1:] or run.resident_kb
    first, last = samples[0][1] / 1024, samples[-1][1] / 1024
    peak = max(kb for _, kb in samples) / 1024
    ok = peak <= TARGET_RESIDENT_MB and last - first <= FLAT_GROWTH_MB
    return f"{first:.0f} → {last:.0f} (max {peak:.0f}) over {samples[-1][0] / 60:.1f} min", ok


def loop_table(runs: list[LoopRun]) -> list[str]:
    lines = [
        "| run | exchanges | decision → first note out p50 / p99 / max (ms) | decision → "
        "first note scheduled (ms) | send error (ms) | **error at the recorder p50 / p99 / "
        "max (ms)** | late (> 3 ms) / dropped / stuck | JACK xruns | longest GC pause (ms) | "
        "resident MB: start → end | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        port = np.asarray(run.port_errors) * 1e3
        timing_ok = (len(port) > 0 and np.percentile(port, 99) <= TARGET_P99_MS
                     and port.max() <= TARGET_MAX_MS)
        resident, resident_ok = resident_cell(run)
        if run.soak is not None:  # several models came and went: the soak judges memory
            resident, resident_ok = f"{resident} (models swapped: see the soak)", True
        ok = timing_ok and run.dropped == 0 and run.stuck_notes == 0 and resident_ok
        lines.append(
            f"| {run.label} | {run.exchanges} ({run.unanswered} unanswered) | "
            f"{ms(run.first_out)} | {ms(run.first_scheduled)} | {ms(run.send_errors)} | "
            f"**{ms(run.port_errors)}** | {run.late} / {run.dropped} / {run.stuck_notes} "
            f"of {run.sent} sent | {'–' if run.jack_xruns is None else run.jack_xruns} | "
            f"{run.longest_gc * 1e3:.2f} ({run.collections} "
            f"collections) | {resident} | {verdict(ok)} |"
        )
    return lines


def loop_section(runs: list[LoopRun], command: str, period_frames: int, rate: int,
                 realtime: bool) -> list[str]:
    period_ms = 1e3 * period_frames / rate
    scheduling = ("realtime (SCHED_FIFO) scheduling" if realtime else
                  "no realtime scheduling (not permitted here: expect JACK itself to lose "
                  "or delay MIDI when a client misses its cycle)")
    return [
        f"`{command}`",
        "",
        f"`antiphon run` at {BPM:g} BPM (answers of {ANSWER_BEATS[0]:g}-{ANSWER_BEATS[1]:g} "
        f"beats, seed 0) on a private JACK server with {scheduling}, dummy backend at {rate} "
        f"Hz with a period of {period_frames} frames ({period_ms:.2f} ms). JACK moves MIDI "
        "once per period, so "
        f"the error at the recorder includes a wait of up to one period in JACK itself; the "
        "send error is the scheduler's own (send call returned minus due). A player client "
        "plays a call and waits until the answer has ended before the next. "
        "JACK xruns: clients the server found unfinished at the end of a cycle (its log); such "
        "a cycle can lose that client's MIDI, Antiphon's or the recorder's. "
        "Targets: at the recorder p99 <= 1 ms, max <= 3 ms, none dropped or stuck, resident "
        f"memory <= {TARGET_RESIDENT_MB:g} MB and flat (grows <= {FLAT_GROWTH_MB:g} MB).",
        "",
        *loop_table(runs),
        *(line for run in runs if run.soak is not None for line in soak_lines(
            run.soak, run.exchanges, run.unanswered, (run.stuck_notes, run.stuck_sent),
            run.dropped, run.minutes, FLAT_GROWTH_MB)),
    ]
