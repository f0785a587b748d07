"""Latency compensation where it is applied: the scheduler sends early by the output's
delay (in virtual time), and a followed MIDI clock times its pulses back by the input's."""

from __future__ import annotations

import pytest
from virtual_play import VirtualOutput, VirtualTime

from antiphon.daemon.midi.loopback import MessageRecorder
from antiphon.daemon.midi.port_latency import OutputLatency, PortDelays
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.midi_clock import PULSES_PER_BEAT, MidiClockFollower
from antiphon.daemon.play.scheduler import OutputScheduler


class FixedLatency(OutputLatency):
    def __init__(self, input_ms: float, output_ms: float) -> None:
        super().__init__()
        self.delays = PortDelays(input_ms / 1e3, output_ms / 1e3, "test")


@pytest.mark.parametrize("output_ms", [0.0, 4.0])
def test_the_scheduler_sends_early_by_the_output_delay(output_ms):
    time = VirtualTime()
    recorder = MessageRecorder()
    clock = Clock(120.0, time_source=time)
    scheduler = OutputScheduler(VirtualOutput(time, recorder), clock)
    scheduler.compensate(FixedLatency(0.0, output_ms))
    with time.taking_part():
        scheduler.start()
        try:
            due = clock.now_beats() + 1.0
            scheduler.schedule(due, [0x90, 60, 100])
            assert time.wait_until(lambda: len(recorder.messages()) == 1)
            sent, _ = recorder.messages()[0]
        finally:
            scheduler.stop()
    assert sent - clock.seconds_at(due) == pytest.approx(-output_ms / 1e3, abs=1e-6)


def test_pulses_are_timed_back_by_the_input_delay():
    """The same pulses, heard 2 ms late by one follower: its beats are 2 ms earlier than
    where the other, told nothing, puts them, which is where they arrived."""
    told, untold = (MidiClockFollower(120.0, time_source=lambda: 0.0) for _ in range(2))
    told.compensate(FixedLatency(2.0, 0.0))
    period = 0.5 / PULSES_PER_BEAT
    for index in range(2 * PULSES_PER_BEAT):
        for follower in (told, untold):
            follower.message(10.0 + index * period, [0xF8])
    assert told.seconds_at(3.0) == pytest.approx(untold.seconds_at(3.0) - 0.002, abs=1e-9)
