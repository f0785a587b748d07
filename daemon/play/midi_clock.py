"""Following a DAW's (or drum machine's) MIDI clock: 24 pulses per quarter note, Start, Stop,
Continue and Song Position Pointer. The follower is a `Clock`: the scheduler and the
phrase detector ask it for beats and seconds as they ask the internal one, and never know
which they have.

Tempo and phase come from a least-squares line through the pulses of the last beat (pulse
number against arrival time; the last two beats where they say the same tempo, see
`_line`): its slope is the pulse period, its value at the latest pulse where that pulse
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

A clock that begins anew (after Start, Continue or a song position, after a pause of
`LOST_AFTER_PULSES` periods, or after a silence of `REACQUIRE_BEATS` beats or
`REACQUIRE_SECONDS`, whichever is shorter: then on the next whole beat) may be another
clock at any tempo: until `ACQUIRE_PULSES` of its pulses make a line, they are counted one
after another and judged by nothing the old tempo says (a 300 BPM clock's pulses, ±5 ms
off, look like a stalled system's bursts to a 20 BPM follower and never made a line). One
that comes after a shorter gap, or a tempo that jumps, is found by its last
`RETEMPO_PULSES` pulses keeping a tempo of their own. `settled()` says when the tempo is
the clock's own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from antiphon.daemon.play.clock import MAX_BPM, MIN_BPM, Clock

PULSES_PER_BEAT = 24
PULSES_PER_SIXTEENTH = 6
WINDOW_PULSES = PULSES_PER_BEAT  # one beat of pulses for the tempo line...
STEADY_PULSES = 2 * PULSES_PER_BEAT  # ...or two, where both say the same tempo (see _line)
LOST_AFTER_PULSES = 6  # a quarter of a beat without a pulse: the source is gone (or paused)
LOST_PULSE_GAP = 1.8  # a gap this many periods long means pulses were lost on the way...
DELIVERY_SPREAD = 0.010  # ...unless it is longer by less than this: a MIDI system delivers
# in steps (JACK's period, 5.3 ms at 256 frames), late by a step or two under load, and at a
# fast tempo that looks like a lost pulse. A pause longer than LOST_AFTER_PULSES is no loss
# either: the source stopped a while (or the system stalled, and a burst makes up for it).
REACQUIRE_BEATS = 2.0  # silent this long, the clock that comes is taken up afresh...
REACQUIRE_SECONDS = 1.0  # ...or this long (2 beats at 20 BPM are 6 s): a clock's pulses are
# never this far apart (125 ms at 20 BPM), and no stall a burst makes up for is this long
RETEMPO_PULSES = 12  # the last this many pulses keeping a tempo of their own...
RETEMPO_CHANGE = 0.3  # ...this far from the one followed: a clock at that tempo
RANGE_SLACK = 1.02  # a clock at 400 BPM fits at 400.0000001: followed, at 400
ACQUIRE_PULSES = 12  # a new clock's pulses on the line before its tempo judges the next
HELD_PULSE_GAP = 0.3  # ...or held up, if they come this close behind one another after it
HELD_JITTERS = 4.0  # ...and closer than a period less this many of the clock's jitter
MAX_HELD_RUN = 12  # a burst longer than half a beat is a cadence: a tempo, not a stall
CADENCE_GAPS = 3  # long gaps in a row this many, and alike, are a slower tempo, not losses
CADENCE_SPREAD = 0.15  # alike: each arrival off their straight line by this much a gap...
CADENCE_JITTER = 0.007  # ...or by this much: a pulse may come ±5 ms off its time (a busy USB
# hub, a DAW on a loaded machine), which at 300 BPM is more than half a pulse period

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
        self._assumed_lost = 0  # pulses taken for lost at the latest gap
        self._held_run = 0  # pulses in a row that came right behind the one before
        self._slow_run: list[float] = []  # arrivals around the long gaps in a row so far
        self._slow_run_first = 0  # the number of the first of them
        self._fast_run: list[tuple[int, float]] = []  # (number, arrival) of held ones in a row
        self._acquiring = True  # a clock begun anew: its pulses are not judged yet
        self._jitter = 0.0  # how far off the line its pulses come (standard deviation)
        self._recent: deque[tuple[int, float]] = deque(maxlen=RETEMPO_PULSES)  # as counted
        self._lock = threading.Lock()  # the input's reader thread writes, all others read
        self.running = True  # False between Stop and Start / Continue
        self.pulses = 0  # every pulse heard, for status
        self.taken_up = 0  # clocks taken up at their own tempo (after Start, a silence...)

    # -- what the input brings ----------------------------------------------------------------
    def message(self, arrived: float, message: list[int]) -> None:
        """Take a clock, transport or song position message (others are ignored)."""
        status = message[0]
        if status == CLOCK:
            self.pulse(arrived)
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
            if not self.running:
                return  # a stopped DAW may go on sending clock: the position stays
            if not self._numbered:
                self._numbered = True
                self._next_pulse = math.ceil(self.beats_at(at) - 1e-9) * PULSES_PER_BEAT
            number, on_line = self._count(at)
            if not self._acquiring:
                number, on_line = self._another_tempo(number, on_line, at)
            self._next_pulse = number + 1
            self._previous_at = at
            if on_line:
                self._pulses.append((number, at))
            if len(self._pulses) < 2:  # the first since Start, Continue or a position:
                if on_line:
                    self.reanchor(at, number / PULSES_PER_BEAT, self.seconds_per_beat)
                return
            period, fitted, jitter = _line(self._pulses)
            bpm = 60.0 / (period * PULSES_PER_BEAT) if period > 0 else math.inf
            if not MIN_BPM / RANGE_SLACK <= bpm <= MAX_BPM * RANGE_SLACK:
                return  # a burst of pulses (a DAW seeking): keep the tempo we had
            if self._acquiring:
                if not _a_cadence([arrived for _, arrived in self._pulses], spread=0.5):
                    return  # a stalled system's burst on the line: no tempo yet
                if len(self._pulses) >= ACQUIRE_PULSES:
                    self._acquiring = False  # the new clock's tempo judges its pulses now
                    self.taken_up += 1
            self._jitter = jitter
            last = self._pulses[-1][0]
            beat = min(max(period * PULSES_PER_BEAT, 60.0 / MAX_BPM), 60.0 / MIN_BPM)
            self.reanchor(fitted, last / PULSES_PER_BEAT, beat)

    def _count(self, at: float) -> tuple[int, bool]:
        """The number of a pulse arriving `at`, and whether it goes on the tempo line.

        MIDI has no resend: a pulse lost on the way must not shift the beat for ever, so a
        gap of about n periods is n - 1 pulses that never came. But a MIDI system that
        stalls (a loaded machine) delivers late instead, in a burst: pulses coming right
        behind one another were held up, not lost, and count where the gap assumed losses;
        a held pulse (and the one before it, held too) says nothing of the tempo and stays
        out of the line. (A real tempo change that size in one step is no band's.) And
        long gaps that keep coming, alike, are no losses but a slower tempo (a DAW that
        halved its tempo, or one far slower than the tempo the follower started from): the
        pulses since they began are counted in a row and make the line anew."""
        number = self._next_pulse
        if self._previous_at is None:
            return number, True
        period = self.seconds_per_beat / PULSES_PER_BEAT
        gap = at - self._previous_at
        if gap > min(REACQUIRE_BEATS * self.seconds_per_beat, REACQUIRE_SECONDS):
            # A clock after a silence (no pulse of any tempo is this far from the last):
            # taken up afresh, on the next whole beat of the count, at its own tempo.
            self._start_line()
            self._previous_at = at
            return math.ceil(self.beats_at(at) - 1e-9) * PULSES_PER_BEAT, True
        if self._acquiring:  # a new clock: nothing known of it yet to judge a gap by
            return number, True
        if gap > LOST_PULSE_GAP * period:
            if not self._slow_run:
                self._slow_run, self._slow_run_first = [self._previous_at], number - 1
            self._slow_run.append(at)
            if self._is_cadence():
                self._pulses.clear()
                self._pulses.extend((self._slow_run_first + index, arrived)
                                    for index, arrived in enumerate(self._slow_run))
                number = self._pulses[-1][0]
                self._slow_run = []
                self._assumed_lost = self._held_run = 0
                self._recent.clear()
                return number, False  # on the line already
            self._assumed_lost = 0
            if gap > LOST_AFTER_PULSES * period:  # a pause, or a stall a burst makes up for:
                self._start_line()  # the count goes on where it was; the gap is no tempo,
                return number, True  # and what comes may be another clock, at any tempo
            if gap - period < DELIVERY_SPREAD:  # delivery's unevenness, at a fast tempo
                return number, True
            self._assumed_lost = round(gap / period) - 1
            return number + self._assumed_lost, True
        self._slow_run = []
        # Held up, unless the clock's own jitter makes gaps this short (±5 ms at 300 BPM).
        held = min(HELD_PULSE_GAP * period, period - HELD_JITTERS * self._jitter)
        if gap < held and self._held_run < MAX_HELD_RUN:
            if not self._held_run:
                self._fast_run = [(number - 1, self._previous_at)]
            self._held_run += 1
            if self._assumed_lost:
                self._assumed_lost -= 1
                number -= 1
            if self._pulses and self._pulses[-1][1] == self._previous_at:
                self._pulses.pop()
            self._fast_run.append((number, at))
            if self._held_run == MAX_HELD_RUN and _a_cadence(
                    [arrived for _, arrived in self._fast_run], spread=0.5):
                # Half a beat of them at a tempo a band plays: a faster tempo, not a stall.
                self._pulses.clear()
                self._pulses.extend(self._fast_run)
                self._held_run = 0
                self._recent.clear()
            return number, False
        self._assumed_lost = self._held_run = 0
        return number, True

    def _another_tempo(self, number: int, on_line: bool, at: float) -> tuple[int, bool]:
        """Whether the last RETEMPO_PULSES pulses, whatever the gaps made of them, keep a
        tempo of their own, far from the one followed: then they are a clock at that tempo
        (one that came after a short gap, or changed at once), counted one after another
        and the line anew. The gaps alone cannot tell: pulses ±5 ms off their time at
        150 BPM, to a follower at 40, are now "held", now on time, now "lost"."""
        recent = self._recent
        recent.append((number, at))
        if len(recent) < RETEMPO_PULSES:
            return number, on_line
        arrivals = [arrived for _, arrived in recent]
        period = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1)
        followed = self.seconds_per_beat / PULSES_PER_BEAT
        if abs(period / followed - 1) <= RETEMPO_CHANGE or not _a_cadence(arrivals, 0.5):
            return number, on_line
        first = recent[0][0]
        self._pulses.clear()
        self._pulses.extend((first + index, arrived) for index, arrived in enumerate(arrivals))
        self._slow_run = []
        self._assumed_lost = self._held_run = 0
        recent.clear()
        return first + len(arrivals) - 1, False  # on the line already

    def _is_cadence(self) -> bool:
        run = self._slow_run
        return len(run) > CADENCE_GAPS and _a_cadence(run[-CADENCE_GAPS - 1:])

    def _start_line(self) -> None:
        """Forget the pulses so far (lock held): the next one starts the tempo line anew,
        and the pulses that come are a new clock's, at whatever tempo."""
        self._pulses.clear()
        self._previous_at = None
        self._slow_run = []
        self._assumed_lost = self._held_run = 0
        self._acquiring = True
        self._recent.clear()

    def start(self) -> None:
        """Start: the next pulse is beat 0."""
        with self._lock:
            self._next_pulse = 0
            self._numbered = True
            self._start_line()
            self.running = True

    def song_position(self, sixteenths: int) -> None:
        """Song Position Pointer: the next pulse is at this position (sent while stopped)."""
        with self._lock:
            self._next_pulse = sixteenths * PULSES_PER_SIXTEENTH
            self._numbered = True
            self._start_line()

    def play_on_alone(self) -> None:
        """The clock went away for good (--clock auto): the count runs on at the last tempo
        whatever the transport said, and a clock that comes is taken up afresh, on the next
        whole beat of the count."""
        with self._lock:
            self.running = True
            self._numbered = False
            self._start_line()

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


def _a_cadence(arrivals: list[float], spread: float = CADENCE_SPREAD) -> bool:
    """Whether pulses arriving at these times keep a tempo: each near the straight line
    through them (by `spread` of a gap, or CADENCE_JITTER), at a tempo between MIN_BPM and
    MAX_BPM (a stalled MIDI system's burst is far quicker). A line, not the gaps alike: a
    pulse ±5 ms off its time makes its two gaps 10 ms apart, which at 300 BPM is more than
    a period."""
    period, fitted_last = _fit(deque(enumerate(arrivals)))
    first = fitted_last - period * (len(arrivals) - 1)
    worst = max(abs(arrived - first - index * period) for index, arrived in enumerate(arrivals))
    return (worst <= max(spread * period, CADENCE_JITTER)
            and 0.9 * 60.0 / (MAX_BPM * PULSES_PER_BEAT) <= period  # the range, give or
            and period <= 1.1 * 60.0 / (MIN_BPM * PULSES_PER_BEAT))  # take delivery's steps


def _line(pulses: deque[tuple[int, float]]) -> tuple[float, float, float]:
    """The tempo line (seconds per pulse, the fitted time of the last pulse, and how far
    off it the pulses come: their standard deviation): through the last beat of pulses,
    or the last two where the tempo they say is the last beat's, give or take its line's
    own uncertainty. One beat
    settles in a beat after a change; two average a jittery clock three times as well
    (a line's slope error goes as the number of points to the power -1.5): a 300 BPM
    clock ±5 ms off is followed within 1% instead of 3%."""
    beat = list(pulses)[-WINDOW_PULSES:]
    period, fitted = _fit(beat)
    if len(beat) < 3:
        return period, fitted, 0.0
    last = beat[-1][0]
    mean_number = sum(number for number, _ in beat) / len(beat)
    spread = sum((number - mean_number) ** 2 for number, _ in beat)
    misfit = sum((at - fitted - period * (number - last)) ** 2 for number, at in beat)
    jitter = math.sqrt(misfit / (len(beat) - 2))
    if len(pulses) > WINDOW_PULSES:
        steady_period, steady_fitted = _fit(pulses)
        if abs(steady_period - period) <= 3.0 * jitter / math.sqrt(spread):
            return steady_period, steady_fitted, jitter
    return period, fitted, jitter


def _fit(pulses: deque[tuple[int, float]] | list[tuple[int, float]]) -> tuple[float, float]:
    """(seconds per pulse, fitted time of the last pulse): least squares of time on number."""
    count = len(pulses)
    mean_number = sum(number for number, _ in pulses) / count
    mean_time = sum(at for _, at in pulses) / count
    spread = sum((number - mean_number) ** 2 for number, _ in pulses)
    slope = sum((number - mean_number) * (at - mean_time) for number, at in pulses) / spread
    last = pulses[-1][0]
    return slope, mean_time + slope * (last - mean_number)
