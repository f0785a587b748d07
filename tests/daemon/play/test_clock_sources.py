"""Two MIDI clocks on one port are told apart, not summed (pulse_sources.py), and with a
clock port of its own the note input's clock and transport are ignored (the input gate).
Virtual time: the pulses' times are made, not waited for."""

from __future__ import annotations

import queue

import numpy as np
import pytest

from antiphon.daemon.midi.input_gate import InputGate
from antiphon.daemon.play.midi_clock import PULSES_PER_BEAT, MidiClockFollower
from antiphon.daemon.play.pulse_sources import find_trains

LOOK_EVERY_PULSES = 8  # the daemon looks every 0.1 s: 8 pulses at 240 BPM summed


def train(bpm: float, start: float, until: float, jitter: float, seed: int) -> list[float]:
    """A clock's pulse times from `start` to `until`, each up to `jitter` off."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm / PULSES_PER_BEAT
    times = np.arange(start, until, period)
    return sorted(times + rng.uniform(-jitter, jitter, len(times)))


def follow(pulses: list[tuple[float, str]], start: bool = True):
    """Feed merged (time, source) pulses to a follower, looking for two clocks as the
    daemon's main loop does; (the follower, the lines it gave to log)."""
    follower = MidiClockFollower(100.0, time_source=lambda: 0.0)
    if start:
        follower.start()
    said = []
    for index, (at, _) in enumerate(sorted(pulses)):
        follower.pulse(at)
        if index % LOOK_EVERY_PULSES == 0 and (news := follower.tell_sources_apart()):
            said.append(news)
    return follower, said


def tagged(times: list[float], name: str) -> list[tuple[float, str]]:
    return [(at, name) for at in times]


PAIRS = [(150.0, 90.0), (90.0, 150.0), (120.0, 100.0), (100.0, 133.0), (60.0, 174.0),
         (174.0, 60.0), (200.0, 75.0), (120.0, 120.0), (40.0, 110.0)]


@pytest.mark.parametrize("first, second", PAIRS)
@pytest.mark.parametrize("jitter", [0.0, 0.001])
def test_a_second_clock_on_the_same_port_is_ignored_not_added(first, second, jitter):
    """A DAW's clock, then a keyboard's own clock joins it on the same port: the tempo
    stays the DAW's (90 beside 150 read 239, the two added), the log says so once, and
    the DAW's beats stay where they are."""
    daw = train(first, 10.0, 18.0, jitter, 1)
    keyboard = train(second, 12.0 + 0.37 / second, 18.0, jitter, 2)  # any phase
    follower, said = follow(tagged(daw, "daw") + tagged(keyboard, "keyboard"))
    assert follower.bpm == pytest.approx(first, rel=0.01), said
    assert len(said) == 1 and "two clocks" in said[0], said
    assert follower.ignored_pulses > len(keyboard) * 0.8
    # Beat 0 was the DAW's first pulse (Start): its beat 30 is where the follower puts it.
    beat = len(daw) // PULSES_PER_BEAT - 1
    due = 10.0 + beat * 60.0 / first
    assert abs(follower.seconds_at(beat) - due) < 0.004, (follower.seconds_at(beat), due)


@pytest.mark.parametrize("first, second", PAIRS[:6])
def test_two_clocks_that_come_together_make_one_of_their_tempos(first, second):
    a = train(first, 10.0, 16.0, 0.001, 3)
    b = train(second, 10.0 + 0.29 / second, 16.0, 0.001, 4)
    follower, said = follow(tagged(a, "a") + tagged(b, "b"))
    assert min(abs(follower.bpm / bpm - 1) for bpm in (first, second)) < 0.01, \
        (follower.bpm, said)
    assert len(said) == 1, said


def test_when_the_followed_clock_stops_the_other_is_followed():
    daw = train(150.0, 10.0, 14.0, 0.001, 5)
    keyboard = train(90.0, 11.0, 20.0, 0.001, 6)
    follower, said = follow(tagged(daw, "daw") + tagged(keyboard, "keyboard"))
    assert follower.bpm == pytest.approx(90.0, rel=0.01), said
    assert "stopped" in said[-1], said


@pytest.mark.parametrize("case", ["jitter 5 ms at 300", "jitter 5 ms at 150", "stalls",
                                  "tempo jumps", "pulses lost", "jitter 2 ms at 400"])
def test_one_clock_is_never_taken_for_two(case):
    """Uneven pulses of one clock (jitter, a stalled system's bursts, a jump of tempo,
    pulses lost on the way) are never split into two clocks: nothing is ignored."""
    rng = np.random.default_rng(7)
    if case.startswith("jitter"):
        ms, bpm = (float(word) for word in case.split()[1::3])
        times = train(bpm, 10.0, 20.0, ms / 1000, 8)
    elif case == "stalls":
        times = train(120.0, 10.0, 20.0, 0.001, 9)
        for stall in range(100, len(times) - 20, 60):  # a few pulses held, then a burst
            held = int(rng.integers(2, 12))
            for index in range(held):
                times[stall + index] = times[stall + held] - (held - index) * 1e-4
    elif case == "tempo jumps":
        times = train(90.0, 10.0, 13.0, 0.001, 10) + train(160.0, 13.02, 16.0, 0.001, 11) \
            + train(70.0, 16.03, 20.0, 0.001, 12)
    else:
        times = [at for at in train(140.0, 10.0, 20.0, 0.001, 13) if rng.random() > 0.05]
    follower, said = follow(tagged(times, "one"))
    assert follower.ignored_pulses == 0 and said == [], said


def test_find_trains_sees_one_clock_as_none_and_two_as_two():
    one = train(150.0, 0.0, 2.0, 0.001, 14)
    assert find_trains(one[:64]) == []
    two = sorted(one + train(90.0, 0.011, 2.0, 0.001, 15))[:64]
    periods = sorted(t.period for t in find_trains(two))
    assert periods == pytest.approx([60 / 150 / 24, 60 / 90 / 24], rel=0.01)


def test_with_a_clock_port_the_note_inputs_clock_and_transport_are_ignored_and_counted():
    """--clock-in: a keyboard's clock, Start and Stop on the note input reach neither the
    follower nor the loop; the clock port's do."""
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    gate = InputGate(inbox, range(1, 17))
    heard = []
    gate.clock_sink = lambda arrived, message: heard.append(message)
    gate.clock_on_input = False  # a clock port of its own
    for message in ([0xFA], [0xF8], [0xFC], [0xFB], [0xF2, 0, 0], [0xF8]):
        gate(1.0, message)  # the note input
    assert heard == [] and inbox.empty()
    assert gate.stats.foreign_clock == 6
    gate.clock_input(2.0, [0xFC])  # the clock port's Stop
    gate.clock_input(2.0, [0xF8])
    assert heard == [[0xFC], [0xF8]]
    assert inbox.get_nowait() == (2.0, [0xFC])  # the loop acts on the DAW's transport
    gate(3.0, [0x90, 60, 100])  # notes on the input pass as ever
    assert inbox.get_nowait() == (3.0, [0x90, 60, 100])


@pytest.mark.parametrize("bpm, jitter, seed", [(250.0, 0.004, 41), (250.0, 0.004, 44),
                                               (300.0, 0.004, 43), (300.0, 0.003, 44),
                                               (350.0, 0.003, 40), (400.0, 0.003, 42)])
def test_one_fast_clock_far_off_its_time_is_never_split_into_two(bpm, jitter, seed):
    """A single clock at 200-400 BPM whose pulses come ±3-5 ms off (near half a period)
    once read as its even and odd pulses at half its tempo, or as two trains whose tempos
    add up to its own (91.9 and 158.1 BPM from one at 250): it was then followed at one of
    them, most of its pulses ignored."""
    follower, said = follow(tagged(train(bpm, 10.0, 20.0, jitter, seed), "one"))
    assert follower.ignored_pulses == 0 and said == [], said
    assert follower.bpm == pytest.approx(bpm, rel=0.03)


@pytest.mark.parametrize("first, second", [(60.0, 120.0), (120.0, 60.0), (80.0, 120.0),
                                           (90.0, 120.0), (120.0, 124.0), (100.0, 200.0),
                                           (300.0, 200.0)])
def test_two_clocks_at_simple_ratios_or_close_tempos_are_told_apart(first, second):
    """Found twice before they are taken for two (a look or a few between may miss them),
    which came first and the count judged at the first look."""
    daw = train(first, 10.0, 20.0, 0.002, 1)
    keyboard = train(second, 12.0 + 0.37 / second, 20.0, 0.002, 2)
    follower, said = follow(tagged(daw, "daw") + tagged(keyboard, "keyboard"))
    assert follower.bpm == pytest.approx(first, rel=0.01), said
    assert len(said) == 1 and "two clocks" in said[0], said
