"""Following MIDI clock: tempo and beat from pulses with USB-like jitter, tempo changes,
Start / Stop / Continue and Song Position Pointer."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.daemon.play.midi_clock import (
    LOST_AFTER_PULSES,
    PULSES_PER_BEAT,
    MidiClockFollower,
)

JITTER_SECONDS = 0.001


class Source:
    """A clock source: sends pulses at a tempo, each arriving up to 1 ms off its time."""

    def __init__(self, follower: MidiClockFollower, seed: int = 0) -> None:
        self.follower = follower
        self.at = 100.0  # the source's own time of its next pulse
        self.rng = np.random.default_rng(seed)

    def play(self, beats: float, bpm: float) -> None:
        period = 60.0 / bpm / PULSES_PER_BEAT
        for _ in range(round(beats * PULSES_PER_BEAT)):
            self.follower.pulse(self.at + self.rng.uniform(-JITTER_SECONDS, JITTER_SECONDS))
            self.at += period


@pytest.fixture
def follower():
    return MidiClockFollower(100.0, time_source=lambda: 0.0)


@pytest.mark.parametrize("bpm", [20.0, 40.0, 72.0, 120.0, 174.0, 240.0, 300.0])
def test_tempo_and_beats_come_from_jittery_pulses(follower, bpm):
    """After a beat of pulses, where the follower puts the next beat when the scheduler
    last plans a note on it (a couple of pulses ahead: it re-reads the clock every 50 ms
    at most) is within a millisecond of where the source puts it, for pulses arriving up
    to a millisecond off; a whole beat ahead, within two."""
    source = Source(follower)
    follower.start()
    source.play(1, bpm)
    near, far = [], []
    for beat in range(2, 17):
        far_guess = follower.seconds_at(beat)  # a beat ahead
        source.play(22 / 24, bpm)
        near_guess = follower.seconds_at(beat)  # two pulses ahead
        source.play(2 / 24, bpm)
        near.append(abs(near_guess - source.at))  # source.at: the time of its beat `beat`
        far.append(abs(far_guess - source.at))
    assert follower.bpm == pytest.approx(bpm, rel=0.005)
    assert max(near) < 0.001, near
    assert max(far) < 0.002, far


@pytest.mark.parametrize("before, after", [(90.0, 140.0), (140.0, 90.0), (60.0, 180.0),
                                           (140.0, 70.0), (200.0, 70.0), (120.0, 121.0),
                                           (45.0, 280.0)])
def test_a_tempo_change_is_followed_within_a_beat(follower, before, after):
    source = Source(follower, seed=1)
    follower.start()
    source.play(4, before)
    assert follower.bpm == pytest.approx(before, rel=0.01)
    source.play(1, after)  # one beat after the change
    assert follower.bpm == pytest.approx(after, rel=0.01)
    assert abs(follower.seconds_at(5.0) - source.at) < 0.002


def test_start_makes_the_next_pulse_beat_zero(follower):
    source = Source(follower)
    source.play(3.5, 120.0)  # clock already running when we came
    follower.start()
    first = source.at
    source.play(2, 120.0)
    assert follower.seconds_at(0.0) == pytest.approx(first, abs=0.002)
    assert follower.beats_at(source.at) == pytest.approx(2.0, abs=0.01)


def test_song_position_and_continue_resume_where_the_daw_is(follower):
    source = Source(follower)
    follower.start()
    source.play(4, 120.0)
    follower.message(0.0, [0xFC])  # Stop
    assert not follower.running
    source.play(2, 120.0)  # a stopped DAW may go on sending clock: the position stays
    follower.message(0.0, [0xF2, 32, 0])  # bar 3 (32 sixteenths = beat 8)
    follower.message(0.0, [0xFB])  # Continue
    resumed = source.at
    source.play(1, 120.0)
    assert follower.seconds_at(8.0) == pytest.approx(resumed, abs=0.002)
    assert follower.running


def test_a_lost_clock_keeps_the_last_tempo_and_says_so(follower):
    source = Source(follower)
    follower.start()
    source.play(4, 150.0)
    last = source.at - 60.0 / 150.0 / PULSES_PER_BEAT
    period = 60.0 / 150.0 / PULSES_PER_BEAT
    assert not follower.lost(last + (LOST_AFTER_PULSES - 1) * period)
    assert follower.lost(last + (LOST_AFTER_PULSES + 1) * period)
    assert follower.bpm == pytest.approx(150.0, rel=0.01)  # kept
    assert MidiClockFollower(120.0).lost()  # no pulse yet


def test_a_burst_of_pulses_does_not_make_an_impossible_tempo(follower):
    follower.start()
    for index in range(30):
        follower.pulse(5.0 + index * 1e-6)  # a DAW seeking: pulses a microsecond apart
    assert 20.0 <= follower.bpm <= 400.0


@pytest.mark.parametrize("bpm", [60.0, 120.0, 200.0])
def test_a_pulse_lost_on_the_way_does_not_shift_the_beat(follower, bpm):
    source = Source(follower, seed=2)
    follower.start()
    source.play(2, bpm)
    period = 60.0 / bpm / PULSES_PER_BEAT
    for _ in range(3):  # three pulses the MIDI system lost, a few apart
        source.at += period  # sent, never delivered
        source.play(5 / 24, bpm)
    played_beats = 2 + 3 * 6 / 24  # 2 beats, then 3 x (1 lost + 5 delivered) pulses
    source.play(24 / 24 - (played_beats % 1), bpm)  # up to the next whole beat
    beat = round(played_beats + 1 - (played_beats % 1))
    assert follower.bpm == pytest.approx(bpm, rel=0.01)
    assert abs(follower.seconds_at(beat) - source.at) < 0.002  # counted by time, not pulses


def test_pulses_held_up_and_delivered_in_a_burst_do_not_shift_the_beat(follower):
    """A loaded machine's MIDI system stalls and then delivers what it held all at once:
    those pulses came late, they were not lost, and the beat must stay where it is."""
    source = Source(follower, seed=4)
    follower.start()
    period = 60.0 / 120.0 / PULSES_PER_BEAT
    source.play(3, 120.0)
    for held in (2, 5, 3):  # stalls of a few pulses, a beat apart
        delivered = source.at + (held - 1) * period + 0.003  # all at once, after the last
        for index in range(held):
            follower.pulse(delivered + index * 1e-4)
            source.at += period
        source.play(1 - held / 24, 120.0)
    source.play(1, 120.0)  # 7 beats played: source.at is beat 7's first pulse
    assert follower.bpm == pytest.approx(120.0, rel=0.01)
    assert abs(follower.seconds_at(7.0) - source.at) < 0.002


def test_a_stall_with_pulses_lost_too_counts_only_the_lost_ones(follower):
    source = Source(follower, seed=5)
    follower.start()
    period = 60.0 / 120.0 / PULSES_PER_BEAT
    source.play(2, 120.0)
    source.at += 2 * period  # two pulses lost...
    delivered = source.at + 2 * period + 0.002  # ...and the next three held up
    for index in range(3):
        follower.pulse(delivered + index * 1e-4)
        source.at += period
    source.play(2 - 5 / 24, 120.0)  # the rest of beats 2 and 3
    assert abs(follower.seconds_at(4.0) - source.at) < 0.002


def test_a_pause_without_stop_goes_on_counting_where_it_was(follower):
    """A DAW that stalls half a beat and goes on from where it was (no Stop, no position):
    the pause is no pulses lost, and the next beat is where the DAW puts it."""
    source = Source(follower, seed=6)
    follower.start()
    source.play(3, 120.0)
    source.at += 0.25  # half a beat of nothing; the DAW's count waits too
    source.play(2, 120.0)  # beats 3 and 4: source.at is beat 5's first pulse
    assert abs(follower.seconds_at(5.0) - source.at) < 0.002


@pytest.mark.parametrize("held", [13, 16, 24])
def test_a_stall_longer_than_half_a_beat_made_up_by_a_burst_keeps_the_count(follower, held):
    source = Source(follower, seed=7)
    follower.start()
    period = 60.0 / 120.0 / PULSES_PER_BEAT
    source.play(3, 120.0)
    delivered = source.at + (held - 1) * period + 0.003  # all at once, after the last
    for index in range(held):
        follower.pulse(delivered + index * 1e-4)
        source.at += period
    source.play(4 - held / 24, 120.0)  # up to beat 7's first pulse
    assert abs(follower.seconds_at(7.0) - source.at) < 0.002


def test_at_a_fast_tempo_a_midi_system_delivering_late_now_and_then_loses_no_beat():
    """400 BPM through a MIDI system that delivers every 5.3 ms (JACK at 256 frames), one
    delivery in thirty a step late: the pulse period is near the step, and a late delivery
    looks like a lost pulse. After 64 beats the count must still be the DAW's."""
    step = 256 / 48000
    rng = np.random.default_rng(3)
    follower = MidiClockFollower(400.0, time_source=lambda: 0.0)
    follower.start()
    period = 60.0 / 400.0 / PULSES_PER_BEAT
    for number in range(64 * PULSES_PER_BEAT + 1):
        sent = 0.01 + number * period + rng.uniform(-0.001, 0.001)
        cycle = np.ceil(sent / step) + (rng.random() < 1 / 30)
        follower.pulse(cycle * step)
    assert abs(follower.beats_at(0.01 + 64 * 24 * period) - 64) < 0.05


def test_a_clock_after_a_long_silence_is_taken_up_on_the_next_whole_beat(follower):
    source = Source(follower, seed=8)
    follower.start()
    source.play(2, 120.0)
    source.at += 3.1  # the DAW went away; another one comes, no Start
    first = source.at
    source.play(1, 90.0)
    beat = follower.beats_at(first)
    assert beat == pytest.approx(round(beat), abs=0.02)  # on a whole beat of the count
    assert follower.bpm == pytest.approx(90.0, rel=0.01)


class NewClock:
    """A clock that comes after another: pulses at a tempo, each up to `jitter` off its
    time, never out of order (a MIDI cable is serial)."""

    def __init__(self, follower: MidiClockFollower, seed: int) -> None:
        self.follower = follower
        self.rng = np.random.default_rng(seed)
        self.at = 100.0  # the next pulse's own time
        self.arrived = 0.0  # the latest arrival

    def play(self, pulses: int, bpm: float, jitter: float) -> None:
        for _ in range(pulses):
            self.arrived = max(self.arrived, self.at + self.rng.uniform(-jitter, jitter))
            self.follower.pulse(self.arrived)
            self.at += 60.0 / bpm / PULSES_PER_BEAT


def old_then_new(old: float, new: float, how: str, jitter: float, seed: int):
    """Four beats of an old clock, then Stop and Start, or a silence of `how` seconds, then
    two beats of a new one: (the follower, the source, where the new clock's first pulse
    was due)."""
    follower = MidiClockFollower(100.0, time_source=lambda: 0.0)
    source = NewClock(follower, seed)
    follower.start()
    source.play(4 * PULSES_PER_BEAT, old, 0.001)
    if how == "stop":
        follower.message(0.0, [0xFC])
        source.at += 0.5
        follower.message(0.0, [0xFA])
    else:
        source.at += float(how)  # silence, and no Stop: another clock comes
    first = source.at
    source.play(2 * PULSES_PER_BEAT, new, jitter)
    return follower, source, first


def assert_taken_up(follower, source, first, new, how):
    """The new clock's tempo within 2%, and its next beat where the follower puts it within
    6 ms (the pulses come ±5 ms off): two beats after its first pulse, which Start made
    beat 0 (without Start, a short gap may be pulses lost: the count goes on)."""
    assert follower.bpm == pytest.approx(new, rel=0.02)
    assert follower.settled()
    start_beat = follower.beats_at(first)
    if how == "stop":
        assert start_beat == pytest.approx(0.0, abs=0.05)
    assert abs(follower.seconds_at(start_beat + 2) - source.at) < 0.006


@pytest.mark.parametrize("how", ["stop", "0.3", "1.5", "8"])
@pytest.mark.parametrize("new", [150.0, 250.0, 300.0, 400.0])
@pytest.mark.parametrize("old", [20.0, 30.0, 40.0, 60.0, 120.0])
def test_a_new_fast_jittery_clock_is_taken_up_within_two_beats(old, new, how):
    """A slow clock stops (or just goes silent), a fast one comes with pulses ±5 ms off:
    two beats later the tempo and the beat are the new clock's, whatever came before
    (a 20 BPM follower took a 300 BPM clock's pulses for a stalled system's bursts and kept
    20 BPM for tens of seconds)."""
    for seed, jitter in enumerate((0.005, 0.004, 0.002, 0.0)):
        follower, source, first = old_then_new(old, new, how, jitter, seed)
        assert_taken_up(follower, source, first, new, how)


@pytest.mark.parametrize("how", ["stop", "0.3", "1.5"])
@pytest.mark.parametrize("new", [20.0, 30.0, 40.0, 60.0])
@pytest.mark.parametrize("old", [150.0, 250.0, 300.0, 400.0])
def test_a_new_slow_jittery_clock_is_taken_up_within_two_beats(old, new, how):
    for seed, jitter in enumerate((0.005, 0.002)):
        follower, source, first = old_then_new(old, new, how, jitter, seed)
        assert_taken_up(follower, source, first, new, how)


def test_settled_says_when_the_tempo_is_the_new_clocks():
    """The daemon says "following it at N BPM" once settled: N must be the new clock's."""
    follower = MidiClockFollower(100.0, time_source=lambda: 0.0)
    source = NewClock(follower, 9)
    follower.start()
    assert not follower.settled()
    source.play(2, 300.0, 0.005)
    assert not follower.settled() and follower.bpm == pytest.approx(100.0)
    for _ in range(2 * PULSES_PER_BEAT):
        source.play(1, 300.0, 0.005)
        if follower.settled():
            break
    assert follower.settled() and follower.bpm == pytest.approx(300.0, rel=0.05)


@pytest.mark.parametrize("bpm, jitter", [(100.0, 0.001), (100.0, 0.008), (150.0, 0.004)])
def test_bursts_through_a_midi_system_that_delivers_in_steps_keep_the_count(bpm, jitter):
    """JACK stamps the pulses of one period (5.3 ms) alike, and a loaded machine's clock
    source sends late and early: the clock looks jittery. A stall then delivers the held
    pulses all at once: they are held up, not lost, however jittery the clock looked (a
    DAW's clock through a loaded machine moved the beat by four pulses)."""
    step = 256 / 48000
    follower = MidiClockFollower(120.0, time_source=lambda: 0.0)
    follower.start()
    period = 60.0 / bpm / PULSES_PER_BEAT
    rng = np.random.default_rng(11)
    sent = [10.0 + number * period + rng.uniform(-jitter, jitter)
            for number in range(20 * 24)]
    arrivals = [np.ceil(at / step) * step for at in sent]
    for stall in range(60, len(arrivals) - 30, 70):  # 4 pulses held, then all at once
        for index in range(stall, stall + 4):
            arrivals[index] = arrivals[stall + 4]
    for at in sorted(arrivals):
        follower.pulse(at)
    assert follower.beats_at(sent[-1]) == pytest.approx((len(sent) - 1) / 24, abs=0.03)


def eight_beats_sent(bpm: float, seed: int, follower_bpm: float | None = None
                     ) -> tuple[MidiClockFollower, float, list[float]]:
    """A started follower (at `bpm`, or at `follower_bpm`: then the clock is new to it), the
    pulse period, and when a source sent eight beats of pulses (the ninth beat's first
    too), each up to 1 ms off its time."""
    follower = MidiClockFollower(follower_bpm or bpm, time_source=lambda: 0.0)
    follower.start()
    period = 60.0 / bpm / PULSES_PER_BEAT
    rng = np.random.default_rng(seed)
    return follower, period, [10.0 + number * period + rng.uniform(-JITTER_SECONDS,
                                                                  JITTER_SECONDS)
                              for number in range(8 * PULSES_PER_BEAT + 1)]


@pytest.mark.parametrize("bpm", [60.0, 100.0, 130.0, 180.0])
@pytest.mark.parametrize("late, catch_up", [(0.9, 0.35), (1.2, 0.5), (1.7, 0.7), (2.6, 0.4)])
def test_held_pulses_let_go_a_few_at_a_time_keep_the_count(bpm, late, catch_up):
    """A loaded machine's MIDI system holds pulses up and lets them go not all at once but
    a fraction of a period apart until it has caught up: the first gap looks like pulses
    lost, the next ones are too far apart to be a burst. The pulses after it, back on
    time, say the count: a pulse ahead, every answer would come a pulse early."""
    follower, period, sent = eight_beats_sent(bpm, seed=12)
    arrivals = list(sent)
    let_go, index = sent[100] + late * period, 100
    while arrivals[index] < let_go:
        arrivals[index] = let_go
        let_go, index = let_go + catch_up * period, index + 1
    for at in arrivals:
        follower.pulse(at)
    assert follower.beats_at(sent[-1]) == pytest.approx(8.0, abs=0.25 / PULSES_PER_BEAT)


@pytest.mark.parametrize("bpm", [60.0, 100.0, 130.0, 180.0])
@pytest.mark.parametrize("lost", [1, 2, 3])
def test_pulses_really_lost_stay_counted_after_the_check(bpm, lost):
    """The pulses after a gap judge whether it was losses; when it was, the count stands."""
    follower, _, sent = eight_beats_sent(bpm, seed=13)
    for number, at in enumerate(sent):
        if not 100 <= number < 100 + lost:
            follower.pulse(at)
    assert follower.beats_at(sent[-1]) == pytest.approx(8.0, abs=0.25 / PULSES_PER_BEAT)


JACK_STEP_SECONDS = 256 / 48000  # a JACK server's period: MIDI moves once per period


@pytest.mark.parametrize("bpm", [60.0, 100.0, 140.0])
@pytest.mark.parametrize("first_lost, lost", [(1, 1), (3, 1), (7, 2), (10, 1)])
def test_pulses_lost_while_a_clock_is_taken_up_are_counted_once_its_tempo_is_known(
        bpm, first_lost, lost):
    """Right after Start the follower counts pulses one after another: it knows nothing yet
    to judge a gap by (its own tempo is another). A pulse the MIDI system dropped then (as
    JACK does on a loaded machine, seen over JACK at 100 BPM) left the count a pulse behind,
    and every answer a pulse late; the clock's tempo, once known, finds it."""
    follower, period, sent = eight_beats_sent(bpm, seed=21, follower_bpm=120.0)
    for number, at in enumerate(sent):
        if not first_lost <= number < first_lost + lost:
            follower.pulse(np.ceil(at / JACK_STEP_SECONDS) * JACK_STEP_SECONDS)
    assert follower.settled()
    assert follower.beats_at(sent[-1]) == pytest.approx(8.0, abs=0.25), "a pulse off"
    assert follower.beats_at(sent[-1]) == pytest.approx(8.0, abs=JACK_STEP_SECONDS / period / 24)


@pytest.mark.parametrize("bpm", [60.0, 100.0, 140.0, 240.0])
@pytest.mark.parametrize("held_at", [1, 4, 9])
def test_pulses_held_while_a_clock_is_taken_up_are_no_losses(bpm, held_at):
    """Held up and let go together, a new clock's first pulses leave a long gap and then a
    burst: nothing was lost, and the count taken in a row stays."""
    follower, period, sent = eight_beats_sent(bpm, seed=22, follower_bpm=120.0)
    arrivals = [np.ceil(at / JACK_STEP_SECONDS) * JACK_STEP_SECONDS for at in sent]
    for index in range(held_at, held_at + 2):  # two pulses held, let go with the third
        arrivals[index] = arrivals[held_at + 2]
    for at in arrivals:
        follower.pulse(at)
    assert follower.beats_at(sent[-1]) == pytest.approx(8.0, abs=JACK_STEP_SECONDS / period / 24)


@pytest.mark.parametrize("bpm", [60.0, 100.0, 140.0])
@pytest.mark.parametrize("apart", [2, 4, 6])
def test_two_stalls_close_together_keep_the_count(bpm, apart):
    """Two stalls a few pulses apart, each letting held pulses go a fraction of a period
    apart (seen over JACK at 100 BPM: 63 ms, then 0, then 11 ms): the second gap comes
    before the pulses after the first have judged it, and both are judged together against
    the line from before the first. Judged apart, the count stayed a pulse ahead."""
    follower, period, sent = eight_beats_sent(bpm, seed=14)
    arrivals = list(sent)
    for first in (100, 100 + apart + 2):
        let_go, index = sent[first] + 1.5 * period, first
        while arrivals[index] < let_go:
            arrivals[index] = let_go
            let_go, index = let_go + 0.45 * period, index + 1
    for at in sorted(arrivals):
        follower.pulse(at)
    assert follower.beats_at(sent[-1]) == pytest.approx(8.0, abs=0.25 / PULSES_PER_BEAT)


@pytest.mark.parametrize("bpm", [60.0, 100.0, 140.0])
@pytest.mark.parametrize("late", [0.45, 0.55, 0.65])
def test_a_pulse_late_while_a_clock_is_taken_up_is_no_loss(bpm, late):
    """A pulse half a period late or more, while a clock is taken up, leaves a gap of one
    and a half periods before it and half of one after: seen over JACK at 100 BPM (38 ms,
    then 11). It is late, not the heir of a lost pulse: the count in a row stands."""
    follower, period, sent = eight_beats_sent(bpm, seed=23, follower_bpm=120.0)
    arrivals = list(sent)
    arrivals[5] += late * period
    for at in arrivals:
        follower.pulse(at)
    assert follower.beats_at(sent[-1]) == pytest.approx(8.0, abs=0.25 / PULSES_PER_BEAT)
