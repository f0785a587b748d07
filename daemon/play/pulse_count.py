"""The count of a MIDI clock follower's pulses (`midi_clock.py`): which number each pulse
gets, and whether it goes on the tempo line, through pulses lost on the way, a stalled
system's bursts, a slower or faster tempo at once, and a new clock's first pulses (judged
by their own gaps, never by the old tempo, and looked at again for losses once that tempo
is known: `recount_acquired`); and a gap taken for pulses lost, judged again by the pulses
after it (`LossCheck`). On the input's reader thread, under the follower's
lock: a few comparisons a pulse, a line through a dozen now and then.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from antiphon.daemon.play.tempo_line import STEADY_PULSES, a_cadence, tempo_line, worst_misfit

LOST_AFTER_PULSES = 6  # a quarter of a beat without a pulse: the source is gone (or paused)
LOST_PULSE_GAP = 1.8  # a gap this many periods long means pulses were lost on the way...
DELIVERY_SPREAD = 0.010  # ...unless it is longer by less than this: a MIDI system delivers
# in steps (JACK's period, 5.3 ms at 256 frames), late by a step or two under load, and at a
# fast tempo that looks like a lost pulse. A pause longer than LOST_AFTER_PULSES is no loss
# either: the source stopped a while (or the system stalled, and a burst makes up for it).
HELD_PULSE_GAP = 0.3  # pulses this close behind one another were held up (a stall)
MAX_HELD_RUN = 12  # a burst longer than half a beat is a cadence: a tempo, not a stall
CADENCE_GAPS = 3  # long gaps in a row this many, and alike, are a slower tempo, not losses
RETEMPO_PULSES = 12  # the last this many pulses keeping a tempo of their own...
RETEMPO_CHANGE = 0.3  # ...this far from the one followed: a clock at that tempo
CHECK_PULSES = 6  # pulses back in cadence after a gap taken for losses, that judge it...
CHECK_WITHIN = 48  # ...if they come within this many pulses of it (two beats)
CHECK_GAP = 0.25  # "in cadence": a gap within this much of a period of the period
CHECK_MISFIT = 0.3  # ...and they all say the same shift, within this much of a period


@dataclass
class LossCheck:
    """Pulses taken for lost at a gap, to be judged by the pulses after it: the tempo
    line before the gap says where they are due; numbered as if `lost` came, they arrive
    a whole number of periods early when the pulses were only held up."""

    lost: int  # pulses taken for lost
    last: int  # the number of the last pulse before the gap...
    fitted: float  # ...where the line put it...
    period: float  # ...and the line's period
    seen: int = 0  # pulses since the gap
    in_cadence: list[tuple[int, float]] = field(default_factory=list)  # the last in a row


class PulseCounter:
    """Numbers a follower's pulses; `pulses` is the follower's tempo line, which a count
    may empty or make anew (a stall's held pulses out of it, a new tempo's pulses in)."""

    def __init__(self, pulses: deque[tuple[int, float]]) -> None:
        self._pulses = pulses
        self._assumed_lost = 0  # pulses taken for lost at the latest gap
        self._held_run = 0  # pulses in a row that came right behind the one before
        self._slow_run: list[float] = []  # arrivals around the long gaps in a row so far
        self._slow_run_first = 0  # the number of the first of them
        self._fast_run: list[tuple[int, float]] = []  # (number, arrival) of held ones in a row
        self.new_gaps: deque[float] = deque(maxlen=STEADY_PULSES)  # a new clock's own gaps
        self._recent: deque[tuple[int, float]] = deque(maxlen=RETEMPO_PULSES)  # as counted
        self._check: LossCheck | None = None  # the latest losses assumed, until judged
        # (number, arrival) of a new clock's pulses, counted in a row: recount_acquired
        self._taken_up: deque[tuple[int, float]] = deque(maxlen=2 * STEADY_PULSES)

    def reset(self) -> None:
        """The tempo line starts anew: the pulses that come are a new clock's."""
        self._slow_run = []
        self._assumed_lost = self._held_run = 0
        self.new_gaps.clear()
        self._recent.clear()
        self._check = None
        self._taken_up.clear()

    def first(self, number: int, at: float) -> None:
        """A new clock's first pulse (nothing before it to count it from)."""
        self._taken_up.clear()
        self._taken_up.append((number, at))

    def count(self, number: int, previous_at: float, at: float, period: float,
              acquiring: bool) -> tuple[int, bool]:
        """The number of a pulse arriving `at`, and whether it goes on the tempo line
        (`_count`), losses taken at a gap judged again by the pulses after it (`_judge`)."""
        expected = number
        number, on_line = self._count(number, previous_at, at, period, acquiring)
        if acquiring:
            self._check = None
            self._taken_up.append((number, at))
        elif self._assumed_lost and number == expected + self._assumed_lost:  # losses taken
            if self._check is not None and self._check.seen <= CHECK_WITHIN:
                # Another gap before the last was judged: the line from before the first
                # still says where pulses are due (the one since holds pulses numbered on
                # the first gap's word), and judges both.
                self._check.lost += self._assumed_lost
                self._check.in_cadence.clear()
            else:  # (the line is still the one before the gap: this pulse joins it after)
                self._check = self._loss_check(list(self._pulses), self._assumed_lost)
        elif self._check is not None:
            number = self._judge(number, at - previous_at, at)
        return number, on_line

    def _count(self, number: int, previous_at: float, at: float, period: float,
               acquiring: bool) -> tuple[int, bool]:
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
        gap = at - previous_at
        if acquiring:  # a new clock: nothing known of it yet to judge a gap by...
            gaps = self.new_gaps
            gaps.append(gap)
            typical = sorted(gaps)[len(gaps) // 2]
            if len(gaps) < 3 or gap >= HELD_PULSE_GAP * typical:
                return number, True
            # ...but its own gaps: right behind the one before (a loaded machine's burst),
            # both were held up, and neither says where the pulses are due.
            if self._pulses and self._pulses[-1][1] == previous_at:
                self._pulses.pop()
            return number, False
        if gap > LOST_PULSE_GAP * period:
            if not self._slow_run:
                self._slow_run, self._slow_run_first = [previous_at], number - 1
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
                self._pulses.clear()  # the count goes on where it was; the gap is no tempo
                return number, True  # (another clock at another tempo: another_tempo)
            if gap - period < DELIVERY_SPREAD:  # delivery's unevenness, at a fast tempo
                return number, True
            self._assumed_lost = round(gap / period) - 1
            return number + self._assumed_lost, True
        self._slow_run = []
        if gap < HELD_PULSE_GAP * period and self._held_run < MAX_HELD_RUN:
            if not self._held_run:
                self._fast_run = [(number - 1, previous_at)]
            self._held_run += 1
            if self._assumed_lost:
                self._assumed_lost -= 1
                number -= 1
            if self._pulses and self._pulses[-1][1] == previous_at:
                self._pulses.pop()
            self._fast_run.append((number, at))
            if self._held_run == MAX_HELD_RUN and a_cadence(
                    [arrived for _, arrived in self._fast_run], spread=0.5):
                # Half a beat of them at a tempo a band plays: a faster tempo, not a stall.
                self._pulses.clear()
                self._pulses.extend(self._fast_run)
                self._held_run = 0
                self._recent.clear()
            return number, False
        self._assumed_lost = self._held_run = 0
        return number, True

    def recount_acquired(self) -> list[tuple[float, int]]:
        """Pulses lost while a new clock was taken up, once its tempo is known: the
        (arrival, pulses lost before it) of each pulse that came a whole number of periods
        later than counted, and the tempo line renumbered; [] when none were (or the
        renumbered pulses fit a line no better than the count in a row).

        While a clock is taken up its pulses are counted one after another, for nothing is
        known yet to judge a gap by; a pulse the MIDI system lost then (a loaded machine
        drops one now and then) would leave the count a pulse behind for as long as the
        clock runs, and every answer a pulse late. Its tempo, once known, says where a gap
        rounds to more periods than were counted (and is longer than DELIVERY_SPREAD
        beyond them), among the pulses counted meanwhile, held ones (in a burst) left out
        as `_count` leaves them off the line. The bar is lower than `_count`'s
        LOST_PULSE_GAP (JACK's steps make a gap of two periods at 140 BPM look like 1.7),
        for the renumbered pulses must then fit their line better than the count did: a
        pulse only late puts every pulse after it a period off the line."""
        taken = list(self._taken_up)
        self._taken_up.clear()
        if len(taken) < 4:
            return []
        gaps = [later - at for (_, at), (_, later) in zip(taken, taken[1:], strict=False)]
        typical = sorted(gaps)[len(gaps) // 2]
        near = [gap for gap in gaps if 0.6 * typical < gap < 1.4 * typical]
        period = sum(near) / len(near)  # the mean: JACK's periods make gaps uneven
        held = {index for index, gap in enumerate(gaps, start=1)
                if gap < HELD_PULSE_GAP * period}
        held |= {index - 1 for index in held}
        kept = [pulse for index, pulse in enumerate(taken) if index not in held]
        if len(kept) < 4:
            return []
        recounted, found, lost = [kept[0]], [], 0
        for index in range(1, len(kept)):
            (number, at), (after, later) = kept[index - 1], kept[index]
            steps, gap = after - number, later - at
            missing = round(gap / period) - steps
            # The next pulse close behind: this one was late (held up, let go), not the heir
            # of lost pulses.
            caught_up = (index + 1 < len(kept)
                         and kept[index + 1][1] - later < (1 - CHECK_MISFIT) * period)
            if (missing > 0 and gap - steps * period >= DELIVERY_SPREAD
                    and abs(gap / period - steps - missing) <= CHECK_MISFIT and not caught_up):
                lost += missing
                found.append((later, lost))
            recounted.append((after + lost, later))
        if not found or worst_misfit(recounted) >= worst_misfit(kept):
            return []
        line = [(number + max((lost for since, lost in found if since <= at), default=0), at)
                for number, at in self._pulses]
        self._pulses.clear()
        self._pulses.extend(line)
        return found

    def another_tempo(self, number: int, on_line: bool, at: float,
                      followed: float) -> tuple[int, bool]:
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
        gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:], strict=False))
        if (abs(period / followed - 1) <= RETEMPO_CHANGE  # (a stall's bursts: gaps of 0)
                or abs(gaps[len(gaps) // 2] / period - 1) > 0.5 or not a_cadence(arrivals, 0.5)):
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
        return len(run) > CADENCE_GAPS and a_cadence(run[-CADENCE_GAPS - 1:])

    @staticmethod
    def _loss_check(line_before: list[tuple[int, float]], lost: int) -> LossCheck | None:
        """What judges the `lost` pulses just assumed: the line through the pulses before
        the gap (None when too few of them make one)."""
        if len(line_before) < CHECK_PULSES:
            return None
        period, fitted, _ = tempo_line(deque(line_before))
        return LossCheck(lost=lost, last=line_before[-1][0], fitted=fitted, period=period)

    def _judge(self, number: int, gap: float, at: float) -> int:
        """The number of a pulse after a gap taken for losses, corrected once CHECK_PULSES
        pulses in cadence say the losses were none, or fewer: they arrive where the line
        before the gap puts pulses numbered that many fewer. A MIDI system that held the
        pulses up and let them go a few at a time, not all at once (then the pulses are
        held, and `_count` takes them back at once), makes the gap look like losses; the
        count would be a pulse ahead ever after, and every answer a pulse early."""
        check = self._check
        check.seen += 1
        if check.seen > CHECK_WITHIN:
            self._check = None
            return number
        if abs(gap / check.period - 1) > CHECK_GAP:
            check.in_cadence.clear()  # still catching up, or another gap
            return number
        check.in_cadence.append((number, at))
        if len(check.in_cadence) < CHECK_PULSES:
            return number
        self._check = None
        shifts = [(arrived - check.fitted) / check.period - (counted - check.last)
                  for counted, arrived in check.in_cadence]
        early = round(-sum(shifts) / len(shifts))
        if not 1 <= early <= check.lost or any(abs(shift + early) > CHECK_MISFIT
                                                for shift in shifts):
            return number  # the losses were real (or the tempo moved): the count stands
        recounted = [(counted - early if counted > check.last else counted, arrived)
                     for counted, arrived in self._pulses]
        self._pulses.clear()
        self._pulses.extend(recounted)
        self._recent.clear()
        return number - early
