"""Following a DAW's (or drum machine's) MIDI clock: 24 pulses per quarter note, Start, Stop,
Continue and Song Position Pointer. The follower is a `Clock`: the scheduler and the
phrase detector ask it for beats and seconds as they ask the internal one, and never know
which they have.

Tempo and phase come from a least-squares line through the pulses of the last beat (pulse
number against arrival time; the last two beats where they say the same tempo, see
`tempo_line.py`): its slope is the pulse period, its value at the latest pulse where that pulse
"really" was. Why this and not a phase-locked loop: over a window of one
beat it settles in exactly one beat after a tempo change, whatever the change, with no loop
gains to tune against each other; and it averages USB-MIDI's jitter (about 1 ms per pulse)
down to a fraction of a millisecond of phase (the standard error of a line through 24
points). Each pulse re-anchors the clock at the fitted time of that pulse.

Beat 0 is the first pulse after Start (as MIDI 1.0 defines it), or where a Song Position
Pointer puts it (in sixteenths, six pulses each), so the beat and bar grid is the DAW's.
Without Start (clock already running when Antiphon came, or `--clock auto` taking it up
while playing on its own tempo), the first pulse heard is the next whole beat of the count
so far: the count never goes back, so nothing planned on it is put off for ever. When
pulses stop coming for `LOST_AFTER_PULSES` pulse periods the clock keeps the last tempo
(its anchor runs on) and `lost()` says so; the next pulse takes over again.

A clock that begins anew (after Start, Continue or a song position, or after a silence of
`REACQUIRE_BEATS` beats or `REACQUIRE_SECONDS`, whichever is shorter: then on the next
whole beat) may be another clock at any tempo: until `ACQUIRE_PULSES` of its pulses make a
line, they are counted one after another and judged by their own gaps, never by the old
tempo (a 300 BPM clock's pulses, ±5 ms off, look like a stalled system's bursts to a 20 BPM
follower, and never made a line); once they make one, its tempo finds the pulses lost
meanwhile, and the count takes them in. One that comes after a shorter gap (a pause, which may
be a stall too), or a tempo that jumps, is found by its last `RETEMPO_PULSES` pulses
keeping a tempo of their own, far from the old. `settled()` says when the tempo is
the clock's own. How each pulse is numbered through losses, stalls and bursts:
`pulse_count.py`.

A pulse is timed back to when the DAW sent it: its arrival less the input's delay, as the
MIDI system tells it (`compensate`, port_latency.py), so the beats are the DAW's own and an
answer sent early by the output's delay is heard on them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from antiphon.daemon.midi.port_latency import OutputLatency
from antiphon.daemon.play import pulse_sources as sources
from antiphon.daemon.play.clock import MAX_BPM, MIN_BPM, Clock
from antiphon.daemon.play.pulse_count import LOST_AFTER_PULSES, PulseCounter
from antiphon.daemon.play.pulse_sources import Train
from antiphon.daemon.play.tempo_line import (
    PULSES_PER_BEAT,
    STEADY_PULSES,
    WINDOW_PULSES,
    keeps_a_tempo,
    tempo_line,
)

PULSES_PER_SIXTEENTH = 6
REACQUIRE_BEATS = 2.0  # silent this long, the clock that comes is taken up afresh...
REACQUIRE_SECONDS = 1.0  # ...or this long (2 beats at 20 BPM are 6 s): a clock's pulses are
# never this far apart (125 ms at 20 BPM), and no stall a burst makes up for is this long
ACQUIRE_PULSES = 12  # a new clock's pulses on the line before its tempo judges the next
RANGE_SLACK = 1.02  # a clock at 400 BPM fits at 400.0000001: followed, at 400

CLOCK = 0xF8
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
SONG_POSITION = 0xF2
TRANSPORT = (START, CONTINUE, STOP)


class MidiClockFollower(Clock):
    """A Clock driven by incoming MIDI clock; `bpm` is where it starts (and what it keeps
    until the first beat of pulses has come)."""

    def __init__(self, bpm: float, time_source: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(bpm, time_source=time_source)
        self._pulses: deque[tuple[int, float]] = deque(maxlen=STEADY_PULSES)
        self._next_pulse = 0  # the number the next pulse gets (pulses since beat 0)
        self._numbered = False  # whether a Start, a position or a pulse set the count
        self._last_pulse_at: float | None = None
        self._previous_at: float | None = None  # the last pulse counted, in cadence
        self._counter = PulseCounter(self._pulses)  # losses, stalls, bursts: pulse_count.py
        self._acquiring = True  # a clock begun anew: its pulses are not judged yet...
        # ...but by its own gaps (the counter's new_gaps)
        self._jitter = 0.0  # how far off the line its pulses come (standard deviation)
        self._clean_period: float | None = None  # the period of the last clean line
        self._lock = threading.Lock()  # the input's reader thread writes, all others read
        self.running = True  # False between Stop and Start / Continue
        self.pulses = 0  # every pulse heard, for status
        self.taken_up = 0  # clocks taken up at their own tempo (after Start, a silence...)
        # Two clocks on one port (pulse_sources.py): the pulses heard, whoever's; the train
        # of the clock chosen, once two were found; what changed, for the daemon to say.
        self._heard: deque[float] = deque(maxlen=sources.HEARD_PULSES)
        self._heard_long: deque[float] = deque(maxlen=sources.HEARD_LONG)  # which came first
        self._looked_at = 0  # `pulses` when they were last looked at for two clocks
        self._look_every = sources.LOOK_EVERY  # longer after looks in vain (a jittery clock)
        self._vain_looks = 0
        self._candidate: list | None = None  # two clocks one look found, to be confirmed
        self._train: Train | None = None
        self._sources_news: str | None = None
        self._count_from: float | None = None  # the first pulse counted since Start...
        self._counted: deque[tuple[float, int]] = deque(maxlen=sources.COUNTED_PULSES)  # & on
        self.ignored_pulses = 0  # another clock's, on the same port
        self._latency = OutputLatency()  # what delays a pulse on its way in: nothing known

    def compensate(self, latency: OutputLatency) -> None:
        """Time each pulse `latency.input_seconds` before it arrived (when it was sent)."""
        self._latency = latency

    # -- what the input brings ----------------------------------------------------------------
    def message(self, arrived: float, message: list[int]) -> None:
        """Take a clock, transport or song position message (others are ignored)."""
        status = message[0]
        if status == CLOCK:
            self.pulse(arrived - self._latency.input_seconds)
        elif status == START:
            self.start()
        elif status == CONTINUE:
            with self._lock:
                self._start_line()  # the pause is no part of the tempo
                self.running = True
        elif status == STOP:
            self.running = False
        elif status == SONG_POSITION and len(message) == 3:
            self.song_position(message[1] | message[2] << 7)

    def pulse(self, at: float) -> None:
        with self._lock:
            self.pulses += 1
            self._last_pulse_at = at
            self._heard.append(at)
            self._heard_long.append(at)
            if self._train is not None and not self._keeps_to_train(at):
                return  # another clock's, on the same port
            if not self.running:
                return  # a stopped DAW may go on sending clock: the position stays
            if not self._numbered:
                self._numbered = True
                self._next_pulse = math.ceil(self.beats_at(at) - 1e-9) * PULSES_PER_BEAT
            if self._count_from is None:
                self._count_from = at
            number, on_line = self._count(at)
            if not self._acquiring:
                number, on_line = self._counter.another_tempo(
                    number, on_line, at, self.seconds_per_beat / PULSES_PER_BEAT)
            self._next_pulse = number + 1
            self._previous_at = at
            self._counted.append((at, number))
            if on_line:
                self._pulses.append((number, at))
            if len(self._pulses) < 2:  # the first since Start, Continue or a position:
                if on_line:
                    self.reanchor(at, number / PULSES_PER_BEAT, self.seconds_per_beat)
                return
            period, fitted, jitter = tempo_line(self._pulses)
            bpm = 60.0 / (period * PULSES_PER_BEAT) if period > 0 else math.inf
            if not MIN_BPM / RANGE_SLACK <= bpm <= MAX_BPM * RANGE_SLACK:
                return  # a burst of pulses (a DAW seeking): keep the tempo we had
            if self._acquiring and len(self._pulses) >= ACQUIRE_PULSES and (
                    len(self._counter.new_gaps) >= STEADY_PULSES
                    or keeps_a_tempo(list(self._pulses), spread=0.5)):
                self._acquiring = False  # the new clock's tempo judges its pulses now
                self.taken_up += 1
                if found := self._counter.recount_acquired():  # pulses lost meanwhile
                    self._take_losses(found)
                    period, fitted, jitter = tempo_line(self._pulses)
            self._jitter = jitter
            if jitter < sources.CLEAN_JITTER * period and not self._acquiring and \
                    len(self._pulses) >= WINDOW_PULSES:  # one clock's line: its tempo kept
                self._clean_period = period
                self._look_every, self._vain_looks = sources.LOOK_EVERY, 0  # a second clock soon
            last = self._pulses[-1][0]
            beat = min(max(period * PULSES_PER_BEAT, 60.0 / MAX_BPM), 60.0 / MIN_BPM)
            self.reanchor(fitted, last / PULSES_PER_BEAT, beat)

    def _take_losses(self, found: list[tuple[float, int]]) -> None:
        """The count goes on from a line `recount_acquired` renumbered (lock held): each
        pulse counted since the clock was taken up moves by the pulses lost before it."""
        def lost_before(at: float) -> int:
            return max((lost for since, lost in found if since <= at), default=0)

        counted = [(at, number + lost_before(at)) for at, number in self._counted]
        self._counted.clear()
        self._counted.extend(counted)
        self._next_pulse += found[-1][1]

    def _count(self, at: float) -> tuple[int, bool]:
        """The number of a pulse arriving `at`, and whether it goes on the tempo line
        (`PulseCounter.count`); a clock after a silence is taken up afresh."""
        number = self._next_pulse
        if self._previous_at is None:
            self._counter.first(number, at)
            return number, True
        period = self.seconds_per_beat / PULSES_PER_BEAT
        gap = at - self._previous_at
        if gap > min(REACQUIRE_BEATS * self.seconds_per_beat, REACQUIRE_SECONDS):
            # A clock after a silence (no pulse of any tempo is this far from the last):
            # taken up afresh, on the next whole beat of the count, at its own tempo.
            self._start_line()
            self._count_from = at
            self._counted.clear()
            number = math.ceil(self.beats_at(at) - 1e-9) * PULSES_PER_BEAT
            self._counter.first(number, at)
            return number, True
        return self._counter.count(number, self._previous_at, at, period, self._acquiring)

    def _start_line(self) -> None:
        """Forget the pulses so far (lock held): the next one starts the tempo line anew,
        and the pulses that come are a new clock's, at whatever tempo."""
        self._pulses.clear()
        self._previous_at = None
        self._counter.reset()
        self._acquiring = True

    def start(self) -> None:
        """Start: the next pulse is beat 0."""
        with self._lock:
            self._next_pulse = 0
            self._count_from = None
            self._counted.clear()
            self._numbered = True
            self._start_line()
            self.running = True

    def song_position(self, sixteenths: int) -> None:
        """Song Position Pointer: the next pulse is at this position (sent while stopped)."""
        with self._lock:
            self._next_pulse = sixteenths * PULSES_PER_SIXTEENTH
            self._numbered = True
            self._count_from = None
            self._counted.clear()
            self._start_line()

    def play_on_alone(self) -> None:
        """The clock went away for good (--clock auto): the count runs on at the last tempo
        whatever the transport said, and a clock that comes is taken up afresh, on the next
        whole beat of the count."""
        with self._lock:
            self.running = True
            self._numbered = False
            self._count_from = None
            self._counted.clear()
            self._start_line()

    # -- two clocks on one port (pulse_sources.py) ----------------------------------------------
    def _keeps_to_train(self, at: float) -> bool:
        """Whether a pulse is the chosen clock's (lock held); when that clock has gone
        quiet while the other goes on, the choice is forgotten and the pulse counts."""
        train = self._train
        if train.take(at):
            return True
        if not train.gone(at):
            self.ignored_pulses += 1
            return False
        self._train = None
        self._start_line()  # the other clock's pulses, from now on, at their tempo
        self._sources_news = (f"MIDI clock: the one followed stopped; following the "
                              f"pulses that come ({self.ignored_pulses} ignored in all)")
        return True

    def tell_sources_apart(self) -> str | None:
        """Look for two clocks among the last pulses heard, at most every LOOK_EVERY
        pulses, and follow one (see pulse_sources.py); a line to log when what is followed
        changed. The daemon's main loop calls it, never a MIDI thread: a look takes
        milliseconds."""
        with self._lock:
            news, self._sources_news = self._sources_news, None
            if (self._train is not None or len(self._heard) < sources.HEARD_PULSES
                    or self.pulses - self._looked_at < self._look_every):
                return news
            self._looked_at = self.pulses
            self._vain_looks += 1  # if in vain: the next ones further apart, after a few
            self._look_every = sources.look_every(self._vain_looks)
            times = list(self._heard)
            before = self._clean_period
            earlier = list(self._heard_long)
        if not sources.irregular(times) or not (trains := sources.find_trains(times)):
            self._candidate = sources.missed(self._candidate)
            return news
        # Two clocks only when a later look finds the same two (sources.same_two); which
        # came first, and the count, judged at the first look, near the second's coming.
        candidate, self._candidate = self._candidate, None
        if candidate is None or not sources.same_two(candidate[0], trains):
            chosen = sources.choose(trains, before, earlier)
            other = trains[1] if chosen is trains[0] else trains[0]
            with self._lock:
                for at in list(self._heard)[len(times) - self.pulses + self._looked_at:]:
                    chosen.take(at)  # what came while we looked
                next_pulse = sources.recount(self._counted, self._next_pulse,
                                             self._count_from, (chosen, other), times)
                self._candidate = [trains, chosen, other, next_pulse, self.pulses, 0]
                self._look_every, self._vain_looks = sources.LOOK_EVERY, 0  # look again soon
            return news
        news = None  # a second clock again: what follows says it
        _, chosen, other, next_pulse, seen, _ = candidate
        with self._lock:
            since = min(self.pulses - seen, len(self._heard_long))
            next_pulse += sum(chosen.take(at) for at in  # its pulses since the first look
                              list(self._heard_long)[len(self._heard_long) - since:])
            self._train = chosen
            self._look_every, self._vain_looks = sources.LOOK_EVERY, 0
            self._next_pulse = next_pulse
            self._start_line()  # the count goes on (less the other's); the tempo anew
        return (f"MIDI clock: two clocks on one port, at {chosen.bpm:.1f} and "
                f"{other.bpm:.1f} BPM: following the one at {chosen.bpm:.1f}, the other's "
                "pulses ignored (give the clock a port of its own: --clock-in)")

    # -- what the daemon asks -----------------------------------------------------------------
    def silent_seconds(self, now: float | None = None) -> float:
        """How long since the last pulse (infinity before the first)."""
        last = self._last_pulse_at
        return math.inf if last is None else (self._time() if now is None else now) - last

    def settled(self) -> bool:
        """Whether the tempo is the clock's own: a line of ACQUIRE_PULSES pulses at least
        since it began anew, or since a pause (before that, `bpm` is the old tempo)."""
        with self._lock:
            return not self._acquiring and len(self._pulses) >= ACQUIRE_PULSES

    def lost(self, now: float | None = None) -> bool:
        """Whether the pulses stopped coming (no pulse for LOST_AFTER_PULSES periods)."""
        last = self._last_pulse_at
        if last is None:
            return True
        now = self._time() if now is None else now
        return now - last > LOST_AFTER_PULSES * self.seconds_per_beat / PULSES_PER_BEAT

