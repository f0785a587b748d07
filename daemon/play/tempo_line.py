"""The tempo line of a MIDI clock follower (`midi_clock.py`): least-squares lines through
pulses (pulse number against arrival time), and whether arrivals keep a tempo at all.
Pure functions, on the input's reader thread: a few dozen points each.
"""

from __future__ import annotations

import math
from collections import deque

from antiphon.daemon.play.clock import MAX_BPM, MIN_BPM

PULSES_PER_BEAT = 24
WINDOW_PULSES = PULSES_PER_BEAT  # one beat of pulses for the tempo line...
STEADY_PULSES = 2 * PULSES_PER_BEAT  # ...or two, where both say the same tempo (tempo_line)
CADENCE_SPREAD = 0.15  # arrivals keep a tempo: each off their straight line by this much a
CADENCE_JITTER = 0.007  # period, or by this much: a pulse may come ±5 ms off its time (a
# busy USB hub, a DAW on a loaded machine), which at 300 BPM is more than half a period


def a_cadence(arrivals: list[float], spread: float = CADENCE_SPREAD) -> bool:
    """Whether pulses arriving at these times, one after another, keep a tempo: each near
    the straight line through them (by `spread` of a gap, or CADENCE_JITTER), at a tempo
    between MIN_BPM and MAX_BPM (a stalled MIDI system's burst is far quicker). A line,
    not the gaps alike: a pulse ±5 ms off its time makes its two gaps 10 ms apart, which at
    300 BPM is more than a period."""
    return keeps_a_tempo(list(enumerate(arrivals)), spread)


def keeps_a_tempo(pulses: list[tuple[int, float]], spread: float) -> bool:
    """a_cadence of (number, arrival) pulses, some numbers perhaps left out."""
    period, fitted_last = _fit(pulses)
    return (_worst(pulses, period, fitted_last) <= max(spread * period, CADENCE_JITTER)
            and 0.9 * 60.0 / (MAX_BPM * PULSES_PER_BEAT) <= period  # the range, give or
            and period <= 1.1 * 60.0 / (MIN_BPM * PULSES_PER_BEAT))  # take delivery's steps


def worst_misfit(pulses: list[tuple[int, float]]) -> float:
    """How far the pulse furthest off the least-squares line through (number, arrival)
    pulses comes, in seconds: a count a pulse wrong shows as a step in the line."""
    return _worst(pulses, *_fit(pulses))


def _worst(pulses: list[tuple[int, float]], period: float, fitted_last: float) -> float:
    last = pulses[-1][0]
    return max(abs(arrived - fitted_last - (number - last) * period)
               for number, arrived in pulses)


def tempo_line(pulses: deque[tuple[int, float]]) -> tuple[float, float, float]:
    """The tempo line (seconds per pulse, the fitted time of the last pulse, and how far
    off it the pulses come: their standard deviation, as their median says): through
    the last beat of pulses,
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
    # The median residual, not the mean square: a pulse a stall held up 80 ms must not
    # make a steady clock look jittery (the follower's held pulses are judged by it).
    misfits = sorted(abs(at - fitted - period * (number - last)) for number, at in beat)
    jitter = 1.4826 * misfits[len(misfits) // 2] * math.sqrt(len(beat) / (len(beat) - 2))
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
