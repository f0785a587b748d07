"""The latency arithmetic: what JACK's figures and --output-latency-ms make of the input's
and the output's delays, and how often the system is asked again (no JACK here: the probe
is a recorded answer)."""

from __future__ import annotations

import pytest

from antiphon.daemon.midi.port_latency import (
    LOOK_SECONDS,
    RETRY_SECONDS,
    OutputLatency,
    PortDelays,
    delays_with_setting,
    jack_delays,
)


def test_between_two_clients_a_pulse_is_timed_back_half_a_period():
    """64 frames at 48 kHz: 1.33 ms a period, so a pulse was sent 0.67 ms before its stamp
    on average; the answer's own wait for the next cycle is the band's too: not counted."""
    delays = jack_delays(0, 0, 64, 48000)
    assert delays.input_seconds == pytest.approx(32 / 48000)
    assert delays.output_seconds == 0.0


def test_port_latencies_add_to_each_way():
    delays = jack_delays(capture_frames=64, playback_frames=128, period_frames=256,
                         sample_rate=48000)
    assert delays.input_seconds == pytest.approx((64 + 128) / 48000)
    assert delays.output_seconds == pytest.approx(128 / 48000)
    assert "period 256 frames at 48000 Hz" in delays.origin


def test_the_setting_replaces_the_output_and_keeps_the_input():
    system = jack_delays(0, 0, 64, 48000)
    set_ = delays_with_setting(system, 5.0)
    assert set_.output_seconds == pytest.approx(0.005)
    assert set_.input_seconds == system.input_seconds
    assert "--output-latency-ms 5" in set_.origin
    assert delays_with_setting(system, None) is system


def test_without_a_system_to_ask_only_the_setting_counts():
    assert OutputLatency().output_seconds == 0.0
    latency = OutputLatency(setting_ms=2.5)
    latency.look("Antiphon:in", "Antiphon:out", now=0.0)  # no probe: nothing asked
    assert latency.output_seconds == pytest.approx(0.0025)
    assert latency.input_seconds == 0.0
    assert latency.state() == {"output_ms": 2.5, "input_ms": 0.0,
                               "from": "--output-latency-ms 2.5; input: nothing known: "
                                       "no compensation"}


class RecordedProbe:
    """What a JACK server answered, one answer per read (None: the server was away)."""

    def __init__(self, answers: list[PortDelays | None]) -> None:
        self.answers = answers
        self.asked: list[tuple[str | None, str | None]] = []

    def read(self, input_port, output_port):
        self.asked.append((input_port, output_port))
        return self.answers.pop(0)

    def close(self) -> None:
        pass


def test_the_system_is_asked_again_every_few_seconds_and_kept_while_away():
    first, second = jack_delays(0, 0, 64, 48000), jack_delays(0, 64, 64, 48000)
    probe = RecordedProbe([first, None, second])
    latency = OutputLatency(None, probe)
    latency.look("in", "out", now=0.0)
    assert latency.delays == first
    latency.look("in", "out", now=LOOK_SECONDS / 2)  # too soon: not asked
    assert len(probe.asked) == 1
    latency.look("in", "out", now=LOOK_SECONDS)  # the server is away: the last stay
    assert latency.delays == first
    latency.look("in", "out", now=LOOK_SECONDS + RETRY_SECONDS / 2)
    assert len(probe.asked) == 2
    latency.look("in", "out", now=LOOK_SECONDS + RETRY_SECONDS)
    assert latency.delays == second and probe.asked[-1] == ("in", "out")
