"""How `antiphon bench clock-out` and the clock-out e2e test read a listener's pulses."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.daemon.bench.clock_out_timing import heard_tempo

STEP = 256 / 48000  # a JACK server's period: MIDI arrives on these steps


def arrivals(bpm: float, pulses: int, lost: set[int], stall_at: int | None = None) -> list[float]:
    """Pulses sent at `bpm` as a listener hears them over JACK: on its steps, the `lost`
    ones never, and (at `stall_at`) four held up and let go at once."""
    period = 60.0 / bpm / 24
    rng = np.random.default_rng(5)
    sent = [1.0 + number * period + rng.uniform(-0.0005, 0.0005) for number in range(pulses)]
    heard = [float(np.ceil(at / STEP) * STEP) for at in sent]
    if stall_at is not None:
        heard[stall_at:stall_at + 4] = [heard[stall_at + 4]] * 4
    return [at for number, at in enumerate(heard) if number not in lost]


@pytest.mark.parametrize("bpm", [60.0, 120.0, 180.0])
@pytest.mark.parametrize("lost", [set(), {20}, {10, 11, 12}, {5, 30, 55}])
def test_the_tempo_as_sent_is_heard_through_pulses_lost_on_the_way(bpm, lost):
    heard = arrivals(bpm, 72, lost, stall_at=40)
    assert heard_tempo(heard, bpm) == pytest.approx(bpm, rel=0.005)


def test_counted_one_after_another_lost_pulses_slow_the_tempo_down():
    """Without the tempo sent, every pulse heard is the next: what a listener counting them
    plays to (the reason the daemon is judged by the tempo given)."""
    heard = arrivals(120.0, 72, {10, 11, 12, 13, 14, 15})
    assert heard_tempo(heard) < 120.0 * 0.95
    assert heard_tempo(heard[:3]) > 0 and heard_tempo(heard[:2]) == 0.0


@pytest.mark.parametrize("played", [118.0, 121.2, 123.0])
def test_a_tempo_off_the_one_sent_is_read_as_it_is(played):
    """Numbered by time, the pulses still say the tempo they keep, not the one sent."""
    heard = arrivals(played, 72, {30})
    assert heard_tempo(heard, 120.0) == pytest.approx(played, rel=0.002)
