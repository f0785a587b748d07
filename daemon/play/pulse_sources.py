"""Two MIDI clocks on one port, told apart: a DAW's clock and a keyboard's own (or an
arpeggiator's), both connected to Antiphon's input, must not be followed as one clock at
the two tempos added together (90 BPM beside 150 BPM read 239).

By timing, because nothing else tells: JACK merges every port connected to an input port
into one stream, and a MIDI event in it carries its time and its bytes, not the port that
sent it; python-rtmidi hands on the same (an ALSA sequencer event does name its source,
but rtmidi drops it, and on JACK there is none). Each clock on its own is a regular train of
pulses; merged, they interleave at two periods. So:

- `find_trains` looks at the last pulses heard for regular trains: from each of the first
  few pulses, for each of the next few as its second pulse, it walks on by the period they
  make (refined as it goes), taking at each step the pulse nearest where the train puts
  its next, within `TRAIN_TOLERANCE`, and allowing a pulse or two lost on the way. The
  train that explains the most pulses is one clock; the same on what is left finds a
  second. Two clocks are there when both are long and whole (`MIN_TRAIN_PULSES`,
  `MIN_TRAIN_SHARE` of their slots), overlap in time (a single clock with a stall reads as
  two trains one after the other, never side by side), both still come, are not the even
  and odd pulses of one clock (one period, half a period apart), and explain nearly every
  pulse heard. A single clock whose pulses come ±5 ms off makes no train this strict: it is
  never taken for two.
- Which one is followed: the one at the tempo followed before the second came, else the
  one whose pulses came first. The other's pulses are ignored and counted, and the log
  says so once.
- `Train.take` then keeps to the chosen clock pulse by pulse (cheap: one comparison, on the
  input's reader thread), following its tempo as it drifts; when its pulses stop coming
  (`LOST_SLOTS` of its periods), the choice is forgotten and the pulses are taken as they
  come again, until a new look finds two clocks again. The follower's count is made the
  chosen clock's again: from its last pulse counted before the other came, by time.
  The looks run on the daemon's main loop (`MidiClockFollower.tell_sources_apart`, every
  `LOOK_EVERY` pulses, and only when the pulses are uneven), never on a MIDI thread.

Transport (Start, Stop, Continue, song position) has no period to tell it by: from either
clock it counts. A clock port of its own (`--clock-in`) is the sure way to keep a second
device's transport out; there the note input's clock and transport are ignored.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

PULSES_PER_BEAT = 24
# What the follower keeps for it (midi_clock.py):
HEARD_PULSES = 64  # pulses looked at for two clocks...
LOOK_EVERY = 32  # ...every this many, or up to MAX_LOOK_EVERY after looks in vain (a look
MAX_LOOK_EVERY = 256  # takes ~10 ms of the daemon's main loop)
COUNTED_PULSES = 256  # pulses kept with their numbers, to count again without another's
HEARD_LONG = 1024  # pulses kept to tell which clock came first (seconds of two merged)
CLEAN_JITTER = 0.2  # a line this near its pulses (in periods) is one clock's (two: 0.3+)
TRAIN_TOLERANCE = 0.006  # a pulse this near where a train puts its next may be the train's
# (rtmidi stamps all the events of one JACK period, 5.3 ms, alike; USB-MIDI adds ±1 ms); at
# most TRAIN_TOLERANCE_SHARE of the period. Where it began is judged by what its own pulses
# showed: KEEP_JITTERS of their spread, at least KEEP_TOLERANCE.
TRAIN_TOLERANCE_SHARE = 0.4
KEEP_JITTERS = 3.5
KEEP_TOLERANCE = 0.0025
MIN_TRAIN_PULSES = 12  # half a beat of pulses at least, for either clock
MIN_TRAIN_SHARE = 0.75  # the share of a train's slots its pulses fill (losses are rare)
MIN_EXPLAINED = 0.9  # the two trains explain this share of the pulses heard, at least
MIN_OVERLAP = 0.5  # side by side: over this share of the shorter train's time, at least
MAX_LOST_IN_A_ROW = 2  # a train walks on over this many slots without a pulse
FIRST_STARTS = 4  # trains are sought from each of the first this many pulses...
SECOND_PULSES = 5  # ...with each of the next this many as their second
CANDIDATE_LOOKS = 4  # two clocks one look found wait this many looks in vain for the next
LOST_SLOTS = 6  # the chosen clock silent this many of its periods: gone
GONE_SECONDS = 0.5
CAME_SECONDS = 2.0  # which clock came first: how each filled its slots over this, before
GONE_SHARE = 0.5
IRREGULAR_GAPS = 0.1  # one clock's gaps spread less (±1 ms at 400 BPM: about 0.13; at 150, 0.05)
ONE_CLOCK_SPREAD = 0.2  # pulses off their line by less than this of a gap are one clock's
TRAIN_SPREAD = 0.15  # a clock's pulses come off its line by less than this of its period
SAME_PERIOD = 0.03  # two trains' periods this near are one period...
HALF_PHASE = 0.2  # ...and half a period apart, give or take this much of it: one clock
MIN_PERIOD = 60.0 / (400.0 * 1.1 * PULSES_PER_BEAT)  # the range of tempos, with slack
MAX_PERIOD = 60.0 / (20.0 / 1.1 * PULSES_PER_BEAT)


@dataclass
class Train:
    """A regular train of pulses: `slots[i]` is the slot (pulse number) of `times[i]`; the
    line through them says where each slot is due (one pulse taken wrongly, another
    clock's landing near a slot, moves it little)."""

    times: list[float] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    period: float = 0.0
    kept_within: float = 0.0  # how near its due time a pulse must come (0: the search's)
    _mean_slot: float = 0.0
    _mean_time: float = 0.0

    @property
    def span(self) -> tuple[float, float]:
        return self.times[0], self.times[-1]

    def share(self) -> float:
        """The share of its slots that a pulse filled."""
        return len(self.times) / (self.slots[-1] - self.slots[0] + 1)

    @property
    def bpm(self) -> float:
        return 60.0 / (self.period * PULSES_PER_BEAT)

    def due(self, slot: int) -> float:
        if len(self.times) < 2:
            return self.times[-1] + (slot - self.slots[-1]) * self.period
        return self._mean_time + (slot - self._mean_slot) * self.period

    def take(self, at: float) -> bool:
        """Whether a pulse arriving `at` is this train's next (then it joins it). One
        nearer the latest slot than the pulse taken for it replaces that one (it was the
        other clock's), and is not taken: its slot was counted."""
        last = self.slots[-1]
        off = at - self.due(last)
        steps = round(off / self.period)
        if steps == 0:
            if abs(off) < abs(self.times[-1] - self.due(last)):
                self.times[-1] = at
                self._fit()
            return False
        if not 1 <= steps <= 2 * LOST_SLOTS:  # after a stall too, on its grid
            return False
        if steps > MAX_LOST_IN_A_ROW + 1 and self.gone(at, GONE_SHARE / 2):
            return False  # too long silent: the other clock's pulses may fit its grid
        if abs(at - self.due(last + steps)) > tolerance(self.period):
            return False
        self.join(at, last + steps)
        if len(self.times) > 2 * PULSES_PER_BEAT:  # two beats make its line
            del self.times[0], self.slots[0]
        return True

    def tolerance(self) -> float:
        """How near its due time a pulse of its own comes, as its pulses showed (a pulse
        taken is the one nearest its slot within the search's `tolerance`)."""
        return self.kept_within or tolerance(self.period)

    def spread(self) -> float:
        """How far off their due times its pulses come (a standard deviation, from the
        median: robust to the odd pulse taken wrongly)."""
        misses = sorted(abs(at - self.due(slot)) for slot, at in zip(self.slots, self.times,
                                                                     strict=True))
        return 1.4826 * misses[len(misses) // 2]

    def keep_to_itself(self) -> None:
        """From now on, only pulses as near their due time as its own came are its."""
        self.kept_within = min(max(KEEP_JITTERS * self.spread(), KEEP_TOLERANCE),
                               TRAIN_TOLERANCE_SHARE * self.period)

    def filled(self, earlier: list[float], until: float) -> float:
        """The share of its slots that a pulse at `earlier` filled, over the CAME_SECONDS
        before `until` (the other clock's pulses land on some by chance; before it came,
        a clock's own fill none)."""
        since = max(earlier[0], until - CAME_SECONDS) if earlier else until
        first, last = (math.ceil((since - self.due(0)) / self.period),
                       math.floor((until - self.due(0)) / self.period))
        if last < first:
            return 0.0
        hits = 0
        for slot in range(first, last + 1):
            due = self.due(slot)
            index = bisect.bisect_left(earlier, due - self.tolerance())
            hits += index < len(earlier) and earlier[index] <= due + self.tolerance()
        return hits / (last - first + 1)

    def came_after(self, earlier: list[float]) -> float:
        """When this train began, as far as the pulses at `earlier` (in order) show: its
        line walked back from its first pulse, while they have a pulse where it is due;
        -inf when it was there before the first of them."""
        first, slot, lost = self.times[0], self.slots[0], 0
        while lost <= MAX_LOST_IN_A_ROW:
            slot -= 1
            due = self.due(slot)
            if not earlier or due < earlier[0]:
                return -math.inf
            index = bisect.bisect_left(earlier, due)
            near = [earlier[i] for i in (index - 1, index) if 0 <= i < len(earlier)]
            nearest = min(near, key=lambda at: abs(at - due))
            if abs(nearest - due) <= self.tolerance():
                first, lost = nearest, 0
            else:
                lost += 1
        return first

    def gone(self, now: float, share: float = GONE_SHARE) -> bool:
        """Whether it filled less than `share` of its slots over the last GONE_SECONDS
        (or LOST_SLOTS periods, the longer): a loaded machine's MIDI system may hold its
        pulses up a while, and the other clock's may land on its grid now and then
        (every third of a 90 BPM clock's on a 150 BPM one's)."""
        span = max(LOST_SLOTS * self.period, GONE_SECONDS)
        heard = sum(1 for at in self.times[-PULSES_PER_BEAT:] if at > now - span)
        return heard < share * min(span, now - self.times[0]) / self.period

    def join(self, at: float, slot: int) -> None:
        self.times.append(at)
        self.slots.append(slot)
        self._fit()

    def _fit(self) -> None:
        """The least-squares line of time on slot."""
        count = len(self.slots)
        self._mean_slot = sum(self.slots) / count
        self._mean_time = sum(self.times) / count
        spread = sum((slot - self._mean_slot) ** 2 for slot in self.slots)
        self.period = sum((slot - self._mean_slot) * (at - self._mean_time)
                          for slot, at in zip(self.slots, self.times, strict=True)) / spread


def irregular(times: list[float]) -> bool:
    """Whether pulses arriving at `times` are uneven enough to be two clocks (a cheap look
    before the dear one): their gaps spread by more than IRREGULAR_GAPS of their mean."""
    gaps = [later - earlier for earlier, later in zip(times[:-1], times[1:], strict=True)]
    mean = sum(gaps) / len(gaps)
    spread = math.sqrt(sum((gap - mean) ** 2 for gap in gaps) / len(gaps))
    return mean > 0 and spread > IRREGULAR_GAPS * mean


def look_every(vain_looks: int) -> int:
    """Pulses until the next look, after this many looks in vain in a row: LOOK_EVERY for
    a few, then further apart, up to MAX_LOOK_EVERY (a jittery clock is no two)."""
    return min(LOOK_EVERY << max(0, vain_looks - 4), MAX_LOOK_EVERY)


def tolerance(period: float) -> float:
    return min(TRAIN_TOLERANCE, TRAIN_TOLERANCE_SHARE * period)


def find_trains(times: list[float]) -> list[Train]:
    """The clocks among pulses arriving at `times` (in order): two trains, the one that
    explains most first, when two clocks are there by the rules in the module docstring;
    else none (one clock, or nothing regular enough to say)."""
    if _one_clock(times):
        return []
    first = _best_train(times)
    if first is None or len(first.times) < MIN_TRAIN_PULSES:
        return []
    taken = set(first.times)
    rest = [at for at in times if at not in taken]
    second = _best_train(rest, starts=2 * FIRST_STARTS)  # the first's strays lead what is left
    if second is None or len(second.times) < MIN_TRAIN_PULSES:
        return []
    if len(first.times) + len(second.times) < MIN_EXPLAINED * len(times):
        return []
    if min(first.share(), second.share()) < MIN_TRAIN_SHARE:
        return []
    (start_a, end_a), (start_b, end_b) = first.span, second.span
    overlap = min(end_a, end_b) - max(start_a, start_b)
    if overlap < MIN_OVERLAP * min(end_a - start_a, end_b - start_b):
        return []
    if _halves_of_one(first, second):
        return []
    if any(train.spread() > TRAIN_SPREAD * train.period for train in (first, second)):
        return []  # a train hopping between the pulses of one jittery clock
    if any(times[-1] - train.times[-1] > LOST_SLOTS * train.period for train in (first, second)):
        return []  # one of them has stopped: one clock, from now on
    first.keep_to_itself()
    second.keep_to_itself()
    return [first, second]


def _one_clock(times: list[float]) -> bool:
    """Whether the pulses, counted one after another, lie on a line as one clock's do (two
    clocks' merged pulses stray from it by a good part of a gap, now early, now late)."""
    pulses = list(enumerate(times))
    count = len(pulses)
    period = (times[-1] - times[0]) / (count - 1)
    mean_time = sum(times) / count
    middle = (count - 1) / 2
    misses = sorted(abs(at - mean_time - (index - middle) * period) for index, at in pulses)
    return 1.4826 * misses[count // 2] < ONE_CLOCK_SPREAD * period


def _halves_of_one(first: Train, second: Train) -> bool:
    """Whether two trains at one period, half a period apart, are one clock at twice
    their tempo (its even and its odd pulses): a clock whose pulses come far off, or
    several lost in a row, can read so. (Two clocks at one tempo, half a pulse apart,
    are one clock to anyone listening: they are followed as such.)"""
    if abs(first.period / second.period - 1) > SAME_PERIOD:
        return False
    # By the trains' lines, not by one pulse: a pulse ±4 ms off at 300 BPM is half a
    # period off, and the halves of one clock read as two clocks half a period apart.
    phase = (second.due(second.slots[0]) - first.due(first.slots[0])) / first.period % 1.0
    return abs(phase - 0.5) < HALF_PHASE


def choose(trains: list[Train], followed_period: float | None, earlier: list[float]) -> Train:
    """The train to follow: the one that came first, as the pulses counted before
    (`earlier`) show; both there before them, the one at the period followed before the
    second came (within 5%), else the one whose pulses came first."""
    filled = [train.filled(earlier, trains[0].times[0]) for train in trains]
    if abs(filled[0] - filled[1]) > 0.1:
        return trains[0] if filled[0] > filled[1] else trains[1]
    if followed_period is not None:
        near = [train for train in trains
                if abs(train.period / followed_period - 1) < 0.05]
        if len(near) == 1:
            return near[0]
    return min(trains, key=lambda train: train.times[0])


def same_two(seen: list[Train], trains: list[Train]) -> bool:
    """Whether a look found the two clocks an earlier one `seen` (their periods alike): a
    single clock whose pulses come ±4 ms off at 250-400 BPM now and then splits, on one
    look, into two trains whose tempos add up to its own, never the same two twice."""
    return all(abs(now / then - 1) <= SAME_PERIOD for now, then in
               zip(sorted(t.period for t in trains), sorted(t.period for t in seen), strict=True))


def missed(candidate: list | None) -> list | None:
    """Two clocks one look found (its last item: the looks in vain since), after another
    look in vain: a look or two may miss them (a stall, a jittery stretch)."""
    if candidate is not None:
        candidate[-1] += 1
        if candidate[-1] > CANDIDATE_LOOKS:
            return None
    return candidate


def recount(counted: deque[tuple[float, int]], next_pulse: int, count_from: float | None,
            trains: tuple[Train, Train], times: list[float]) -> int:
    """The number of the next pulse, counting (chosen, other) = `trains`'s chosen clock
    alone: its pulses since the last one `counted` (arrival, number) before the other
    clock came, by time; or, the other there before the pulses `counted` began, the count
    less the other's pulses among those looked at (`times`) since `count_from`."""
    chosen, other = trains
    came = other.came_after([at for at, _ in counted])
    before = [(at, number) for at, number in counted if at < came - other.tolerance()]
    if before:
        at, number = before[-1]
        return number + round((chosen.times[-1] - at) / chosen.period) + 1
    mine = set(chosen.times)
    since = math.inf if count_from is None else count_from
    return next_pulse - sum(1 for at in times if at >= since and at not in mine)


def _best_train(times: list[float], starts: int = FIRST_STARTS) -> Train | None:
    best: Train | None = None
    for start in range(min(starts, len(times))):
        for second in range(start + 1, min(start + 1 + SECOND_PULSES, len(times))):
            period = times[second] - times[start]
            if not MIN_PERIOD <= period <= MAX_PERIOD:
                continue
            train = _walk(times, start, period)
            if best is None or _rank(train) > _rank(best):
                best = train
    return best


def _rank(train: Train) -> float:
    """The pulses it explains, the more for being whole: one hopping between two clocks
    leaves many slots empty, one taking every third pulse of a clock explains few."""
    return len(train.times) * train.share() ** 2


def _walk(times: list[float], start: int, period: float) -> Train:
    """The train from times[start] on at about `period`: at each slot the pulse nearest
    where it is due, if near enough; the line refined by each pulse it takes."""
    train = Train([times[start]], [0], period)
    slot, lost = 0, 0
    while lost <= MAX_LOST_IN_A_ROW:
        slot += 1
        due = train.due(slot)
        if due > times[-1] + tolerance(train.period):
            break
        index = bisect.bisect_left(times, due)
        near = [i for i in (index - 1, index) if 0 <= i < len(times)]
        nearest = min(near, key=lambda i: abs(times[i] - due))
        if abs(times[nearest] - due) <= tolerance(train.period) \
                and times[nearest] > train.times[-1]:
            train.join(times[nearest], slot)
            lost = 0
        else:
            lost += 1
    return train
