"""`--clock-out` over the real JACK server: a client listening where the daemon sends its MIDI
clock hears Start, then 24 pulses a beat at --bpm, follows `antiphon set bpm`, gets a Start
again when it comes back after going away, and hears Stop when the daemon ends (SIGTERM).

The tempo is a least-squares line through the pulses' arrival times: JACK moves MIDI once
per period (5.3 ms here), so a single interval says little, a beat or two of them a lot.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from e2e_support import BPM, client_name, wait_until

from antiphon.daemon.bench.clock_out_timing import (
    ClockOutRun,
    clock_out_section,
    heard_interval_errors_ms,
    heard_tempo,
)
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.midi.ports import RtMidiInput
from antiphon.daemon.play.midi_clock import CLOCK, START, STOP

pytestmark = pytest.mark.jack

LISTENER = "e2e clock listener"
NEW_BPM = 180.0
TEMPO_TOLERANCE = 0.005  # of the tempo asked for


class ClockListener:
    """A drum machine: a JACK client whose input the daemon's clock out connects to (by
    name), read by a polling thread as Antiphon reads its own input."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, int]] = []  # (arrived, status byte)
        self._lock = threading.Lock()
        self.port = RtMidiInput("jack", None, "in", client_name(LISTENER))
        self.port.set_receiver(self._on_message)

    def _on_message(self, arrived: float, message: list[int]) -> None:
        with self._lock:
            self.messages.append((arrived, message[0]))

    def heard(self, status: int | None = None, since: float = 0.0) -> list[float]:
        with self._lock:
            return [at for at, byte in self.messages
                    if at >= since and (status is None or byte == status)]

    def statuses(self) -> list[int]:
        with self._lock:
            return [byte for _, byte in self.messages]

    def close(self) -> None:
        self.port.close()


def spread(values) -> str:
    return (f"p50 {np.percentile(values, 50):.2f} / p99 {np.percentile(values, 99):.2f} / "
            f"max {np.max(values):.2f} ms")


def test_clock_out_leads_a_listener_through_tempo_change_return_and_stop(
        daemon, report_measurement):
    listener = ClockListener()
    try:
        process = daemon("--clock-out", LISTENER)
        # Start on the next bar line (4 beats: at most 2 s at 120 BPM), then pulses.
        assert wait_until(lambda: len(listener.heard(CLOCK)) >= 72, 6), process.output()
        statuses = listener.statuses()
        assert statuses[:2] == [START, CLOCK], statuses[:5]
        steady = listener.heard(CLOCK)
        assert heard_tempo(steady, BPM) == pytest.approx(BPM, rel=TEMPO_TOLERANCE)
        clock_out = ask(process.socket, {"command": "status"})["status"]["clock_out"]
        assert clock_out["on"] is True and clock_out["running"] is True
        assert clock_out["state"] == "connected" and LISTENER in clock_out["to"]

        changed = time.perf_counter()
        assert ask(process.socket, {"command": "set", "key": "bpm", "value": f"{NEW_BPM:g}"})["ok"]
        assert wait_until(lambda: len(listener.heard(CLOCK, changed + 0.05)) >= 60, 4)
        followed = listener.heard(CLOCK, changed + 0.05)
        assert heard_tempo(followed, NEW_BPM) == pytest.approx(NEW_BPM, rel=TEMPO_TOLERANCE)
        sent = ask(process.socket, {"command": "status"})["status"]["clock_out"]
        heard = {BPM: steady, NEW_BPM: followed}
        report_measurement("clock out |pulse interval error|", "; ".join([
            f"sent (the daemon's count) {sent['interval_error_ms']}",
            *(f"heard over JACK (5.3 ms periods) at {bpm:g} BPM "
              f"{spread(heard_interval_errors_ms(pulses, bpm))}, "
              f"tempo {heard_tempo(pulses, bpm):.3f}"
              for bpm, pulses in heard.items())]))
        section = clock_out_section(ClockOutRun(1.0, sent["interval_error_ms"], heard))
        assert f"| {NEW_BPM:g} | {len(followed)} |" in "\n".join(section)
    finally:
        listener.close()

    # The drum machine goes away and comes back: the daemon waits, reconnects, starts it
    # again on a bar line (at most 1.3 s at 180 BPM), and lives on.
    process.wait_for(r"clock out port .* went away", timeout=3)
    waiting = ask(process.socket, {"command": "status"})["status"]["clock_out"]
    assert (waiting["state"], waiting["port"], waiting["wanted"]) == ("waiting", None, LISTENER)
    listener = ClockListener()
    try:
        assert wait_until(lambda: listener.heard(START), 4), process.output()
        assert wait_until(lambda: listener.heard(CLOCK, listener.heard(START)[0]), 1)
        assert process.process.poll() is None
        assert process.terminate() == 0
        assert wait_until(lambda: listener.statuses()[-1:] == [STOP], 2), listener.statuses()[-3:]
        assert listener.statuses().count(STOP) == 1
    finally:
        listener.close()


def test_a_connection_someone_made_first_counts_as_made(jack_server):
    """A patchbay or a restored session connected Antiphon's clock port to the drum machine
    before the keeper looked: JACK refuses to connect them twice, and that is no failure
    (the keeper used to wait for ever, sending nothing)."""
    import rtmidi

    from antiphon.daemon.midi.jack_links import JackLinks

    listener = ClockListener()
    clock = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client_name("e2e clock sender"))
    clock.open_virtual_port("clock")
    links = JackLinks.open()
    assert links is not None
    try:
        source = f"{client_name('e2e clock sender')}:clock"
        destination = f"{client_name(LISTENER)}:in"
        assert links.connect(source, destination)  # the patchbay's
        assert links.connect(source, destination)  # the keeper's, after it
        assert links.connected(source, destination)
    finally:
        links.close()
        clock.delete()
        listener.close()
