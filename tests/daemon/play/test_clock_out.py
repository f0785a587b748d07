"""The MIDI clock sender (`--clock-out`), run for fractions of a second at 240 BPM (a pulse
every 10.4 ms) into a port that notes each message with the clock's beat when it left."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.control.controller import clock_out_state
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.clock_out import ClockOut
from antiphon.daemon.play.midi_clock import CLOCK, START, STOP

BPM = 240.0
PULSE = 60.0 / BPM / 24


class RecordingPort:
    name = "recorder"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # (seconds, the clock's beat then, its seconds per beat then, message)
        self.sent: list[tuple[float, float, float, tuple[int, ...]]] = []
        self.attachments = 1
        self.refuse = False

    def send(self, message) -> None:
        if self.refuse:
            raise OSError("the port went away")
        now = time.perf_counter()
        self.sent.append((now, self.clock.beats_at(now), self.clock.seconds_per_beat,
                          tuple(message)))

    def pulses(self) -> list[tuple[float, float, float]]:
        return [(at, beats, spb) for at, beats, spb, message in self.sent
                if message == (CLOCK,)]

    def messages(self) -> list[tuple[int, ...]]:
        return [message for *_, message in self.sent]


def wait_for_pulses(port: RecordingPort, count: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while len(port.pulses()) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(port.pulses()) >= count, port.messages()[:5]


def pulse_numbers(port: RecordingPort, sender: ClockOut) -> list[tuple[float, float]]:
    """(when sent, the pulse number it was due as) of each pulse: its beat when it left, less
    how late it left (the sender's own count), so a loaded machine's lateness is no error."""
    late = list(sender.stats.recent_errors)
    assert len(late) == len(port.pulses())
    return [(at, (beats - error / spb) * 24)
            for (at, beats, spb), error in zip(port.pulses(), late, strict=True)]


def on_bar(number: float, beats_per_bar: int) -> bool:
    bar = 24 * beats_per_bar
    return abs(number - bar * round(number / bar)) < 0.05


def test_start_just_before_the_first_pulse_on_a_bar_and_stop_last(caplog):
    caplog.set_level("INFO")
    clock = Clock(BPM, origin_seconds=time.perf_counter() - 0.1)  # at beat 0.4: 1.6 to the bar
    port = RecordingPort(clock)
    sender = ClockOut(port, clock, beats_per_bar=2)
    sender.start()
    wait_for_pulses(port, 10)
    assert sender.running
    sender.stop()
    messages = port.messages()
    assert messages[:2] == [(START,), (CLOCK,)]
    assert messages[-1] == (STOP,) and messages.count((STOP,)) == 1
    assert messages.count((START,)) == 1 and not sender.running
    start_at, pulse_at = port.sent[0][0], port.sent[1][0]
    assert 0 <= pulse_at - start_at < 0.005  # just before
    assert on_bar(pulse_numbers(port, sender)[0][1], beats_per_bar=2)
    assert "jumped" not in caplog.text  # waiting up to a bar for the first is no jump
    assert sender.stats.pulses == len(port.pulses())


def test_pulses_stay_on_the_clocks_grid_through_a_tempo_change():
    clock = Clock(BPM)
    port = RecordingPort(clock)
    sender = ClockOut(port, clock, beats_per_bar=1)
    sender.start()
    wait_for_pulses(port, 25)
    changed_at = time.perf_counter()
    clock.set_bpm(BPM / 2)  # the pulses that follow come half as often, on the same grid
    wait_for_pulses(port, 50)
    sender.stop()
    numbers = pulse_numbers(port, sender)
    # Every pulse on the clock's grid, and every beat the clock went through has its 24
    # pulses, none lost, none doubled: the phase did not jump at the change.
    assert all(abs(number - round(number)) < 0.05 for _, number in numbers)
    first = round(numbers[0][1])
    assert [round(number) for _, number in numbers] == list(range(first, first + len(numbers)))
    sent = [at for at, _ in numbers]
    before = [b - a for a, b in pairwise(sent) if b < changed_at]
    after = [b - a for a, b in pairwise(sent) if a > changed_at]
    assert sorted(before)[len(before) // 2] == pytest.approx(PULSE, abs=0.0005)
    assert sorted(after)[len(after) // 2] == pytest.approx(2 * PULSE, abs=0.0005)


@pytest.mark.parametrize("jump_beats", [2.5, -1.5])
def test_a_jumping_clock_moves_the_pulses_by_whole_beats(jump_beats):
    clock = Clock(BPM)
    port = RecordingPort(clock)
    sender = ClockOut(port, clock, beats_per_bar=1)
    sender.start()
    wait_for_pulses(port, 15)
    jumped = time.perf_counter()
    clock.reanchor(jumped, clock.beats_at(jumped) + jump_beats, clock.seconds_per_beat)
    wait_for_pulses(port, 45)
    sender.stop()
    # A follower counts pulses from Start: its beats (every 24th pulse) stay on the clock's.
    # (A pulse already on its way when the clock jumped left on the old count.)
    phases = {(round(number) - index) % 24
              for index, (at, number) in enumerate(pulse_numbers(port, sender))
              if not jumped < at < jumped + 0.005}
    assert phases == {0}
    if jump_beats > 0:
        assert sender.stats.skipped % 24 == 0 and sender.stats.skipped >= 48
    sent = [at for at, *_ in port.pulses()]
    assert max(b - a for a, b in pairwise(sent)) < 60.0 / BPM  # never the whole jump


def test_a_port_attached_again_gets_a_start_before_the_next_bar():
    clock = Clock(BPM)
    port = RecordingPort(clock)
    sender = ClockOut(port, clock, beats_per_bar=2)
    sender.start()
    wait_for_pulses(port, 10)
    port.attachments += 1  # the device came back
    wait_for_pulses(port, 60)
    sender.stop()
    messages = port.messages()
    starts = [index for index, message in enumerate(messages) if message == (START,)]
    assert len(starts) == 2 and messages[starts[1] + 1] == (CLOCK,)
    numbers = [round(number) for _, number in pulse_numbers(port, sender)]
    restart = messages[:starts[1]].count((CLOCK,))  # the pulse after the second Start
    assert on_bar(numbers[restart], beats_per_bar=2)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # no pause


def test_stop_goes_out_once_even_before_the_first_start_or_without_a_thread():
    clock = Clock(20.0)  # the first bar line is seconds away
    port = RecordingPort(clock)
    sender = ClockOut(port, clock)
    sender.start()
    time.sleep(0.05)
    sender.stop()
    sender.stop()
    assert port.messages() == [(STOP,)]
    never_started = ClockOut(RecordingPort(clock), clock)
    never_started.stop()
    assert never_started._port.messages() == [(STOP,)]


def test_a_port_that_refuses_sends_does_not_stop_the_clock():
    clock = Clock(BPM)
    port = RecordingPort(clock)
    sender = ClockOut(port, clock, beats_per_bar=1)
    port.refuse = True
    sender.start()
    deadline = time.monotonic() + 2
    while sender.stats.send_errors < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    port.refuse = False
    wait_for_pulses(port, 5)
    assert sender.is_alive() and sender.stats.send_errors >= 10
    sender.stop()


def test_clock_out_is_refused_while_antiphon_follows_another_clock():
    for following in ({"clock": "midi"}, {"clock": "auto"}, {"clock_in": "DAW"}):
        with pytest.raises(ConfigError, match="--clock-out .* follows another"):
            DaemonConfig(clock_out="TR-8", **following)
    assert DaemonConfig(clock_out="TR-8").clock_out == "TR-8"


def test_status_says_whether_clock_goes_out_and_where():
    class Daemon:
        clock_out = None

    assert clock_out_state(Daemon(), {}) == {"on": False}
    clock = Clock(BPM)
    Daemon.clock_out = ClockOut(RecordingPort(clock), clock)
    ports = {"clock_out": {"port": "Antiphon Clock:clock", "wanted": "TR-8", "to": "TR-8:in",
                           "state": "connected"}}
    state = clock_out_state(Daemon(), ports)
    assert state["on"] is True and state["to"] == "TR-8:in" and state["pulses"] == 0
    assert state["send_error_ms"] == {"count": 0}
