"""named_edge.NamedEdge over an in-process MIDI system (edge_fakes.py): named ports opened
when they appear and closed when they go, what a lost port leaves behind, the MIDI system
lost and back, and the status `antiphon status` shows. The same keeper over JACK runs in
tests/e2e (test_ports_come_and_go.py, test_e2e_jack.py)."""

from __future__ import annotations

import logging
import time

import pytest
from edge_fakes import Clock, FakeMidiSystem

from antiphon.daemon.midi import kept_ports
from antiphon.daemon.midi.edge import EdgeOptions
from antiphon.daemon.midi.edge_choice import choose_edge
from antiphon.daemon.midi.loopback import MessageRecorder
from antiphon.daemon.midi.named_edge import NamedEdge

KEYS = "Keystation 49:Keystation 49 MIDI 1 24:0"
SYNTH = "FLUID Synth:Synth input port 130:0"
NOTE_ON = [0x90, 60, 100]
NOTE_OFF = [0x80, 60, 0]


@pytest.fixture(autouse=True)
def quick_panic(monkeypatch):
    monkeypatch.setattr(kept_ports, "PANIC_PACE_SECONDS", 0.0)


def edge_over(system: FakeMidiSystem, clock: Clock | None = None, **options) -> NamedEdge:
    options = {"in_port": "Keystation", "out_port": "FLUID", "panic_on_start": False,
               **options}
    edge = NamedEdge(EdgeOptions("alsa", **options), system=system)
    edge.watch = system.watch("alsa", edge.options.reconnect_timeout, clock or Clock())
    return edge


def said(caplog, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_choose_edge_opens_named_ports_away_from_jack():
    assert isinstance(choose_edge(EdgeOptions("alsa", None, None)), NamedEdge)


def test_a_port_not_there_is_waited_for_said_once_and_taken_when_it_appears(caplog):
    caplog.set_level(logging.INFO)
    system = FakeMidiSystem(sources=["Midi Through:Port-0 14:0"], destinations=[SYNTH])
    edge = edge_over(system)
    heard = MessageRecorder()
    edge.input.set_receiver(heard)
    edge.open()
    for _ in range(5):
        edge.look()
    assert said(caplog, "waiting for input port 'Keystation' "
                        "(there are: 'Midi Through:Port-0 14:0')") == 1
    assert edge.describe()["input"] == {"port": None, "wanted": "Keystation", "to": None,
                                        "state": "waiting"}
    assert edge.describe()["output"] == {"port": "Antiphon Out:out", "wanted": "FLUID",
                                         "to": SYNTH, "state": "connected"}
    system.sources.append(KEYS)
    edge.look()
    assert said(caplog, f"listening to {KEYS!r} through 'Antiphon In:in'") == 1
    assert edge.describe()["input"]["state"] == "connected"
    system.play(KEYS, NOTE_ON)
    assert [message for _, message in heard.messages()] == [NOTE_ON]


def test_an_input_that_goes_releases_its_held_keys_and_is_reopened_when_back(caplog):
    caplog.set_level(logging.INFO)
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH])
    edge = edge_over(system)
    heard = MessageRecorder()
    edge.input.set_receiver(heard)
    edge.open()
    first = edge.input.port
    system.play(KEYS, NOTE_ON)
    system.unplug(KEYS)
    edge.look()
    assert first.closed and edge.input.port is None
    assert [message for _, message in heard.messages()] == [NOTE_ON, NOTE_OFF]
    assert said(caplog, f"input port {KEYS!r} went away: waiting for it to come back") == 1
    system.sources.append(KEYS)
    edge.look()
    assert edge.input.port is not first and not edge.input.port.closed
    assert said(caplog, f"listening to {KEYS!r} through 'Antiphon In:in'") == 2


def test_an_output_that_goes_owes_its_notes_to_the_one_that_comes_back():
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH])
    edge = edge_over(system)
    edge.open()
    edge.output.send(NOTE_ON)
    system.unplug(SYNTH)
    edge.look()
    edge.output.send([0x90, 64, 100])  # nowhere to sound: dropped and counted
    assert edge.describe()["dropped_note_ons"] == 1
    assert edge.describe()["output"]["state"] == "waiting"
    system.destinations.append(SYNTH)
    system.heard.clear()
    edge.look()
    assert [message for _, message in system.heard[SYNTH].messages()] == [NOTE_OFF]


def test_with_no_input_named_the_first_hardware_input_is_taken(caplog):
    caplog.set_level(logging.INFO)
    system = FakeMidiSystem(sources=["Midi Through:Port-0 14:0", KEYS], destinations=[SYNTH])
    edge = edge_over(system, in_port=None)
    edge.open()
    assert said(caplog, f"no --in given: listening to the first hardware input, {KEYS!r}")
    assert edge.describe()["input"]["wanted"] == KEYS
    assert edge.input.port.name == KEYS


def test_with_no_port_named_and_no_hardware_virtual_ports_are_opened_once():
    system = FakeMidiSystem(sources=["Midi Through:Port-0 14:0"])
    edge = edge_over(system, in_port=None, out_port=None)
    edge.open()
    for _ in range(3):
        edge.look()
    assert len(system.opened) == 2
    status = edge.describe()
    assert status["input"] == {"port": "Antiphon In:in", "wanted": None, "to": None,
                               "state": "open"}
    assert status["output"]["state"] == "open"


def test_the_clock_ports_are_kept_beside_the_notes_and_never_panicked(caplog):
    caplog.set_level(logging.INFO)
    system = FakeMidiSystem(sources=[KEYS, "DAW:clock out"],
                            destinations=[SYNTH, "Drum machine:in"])
    edge = edge_over(system, panic_on_start=True, clock_in="DAW", clock_out="Drum")
    edge.open()
    assert said(caplog, "taking MIDI clock from 'DAW:clock out' through "
                        "'Antiphon Clock In:clock'") == 1
    assert said(caplog, "sending MIDI clock to 'Drum machine:in' through "
                        "'Antiphon Clock:clock'") == 1
    assert len(system.heard[SYNTH].messages()) == 16 * 130  # the output's panic
    assert "Drum machine:in" not in system.heard
    status = edge.describe()
    assert list(status)[-2:] == ["clock_out", "clock_in"]
    assert status["clock_in"]["to"] == "DAW:clock out"
    assert status["clock_out"]["state"] == "connected"
    assert not system.port_of("Antiphon Clock In:clock").probed  # only the notes' input


def test_a_lost_system_closes_every_port_and_reopens_them_when_back(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH])
    edge = edge_over(system, clock)
    edge.open()
    edge.output.send(NOTE_ON)
    system.die()
    clock.now += 1.0
    edge.look()
    assert system.open_ports() == [] and edge.system_lost_since == clock.now
    assert edge.describe()["system"].startswith("lost")
    assert edge.describe()["input"]["state"] == "waiting"
    system.there = True
    clock.now += 2.0
    edge.look()
    assert edge.reconnects == 1 and edge.system_lost_since is None
    assert said(caplog, "the alsa MIDI system is back after") == 1
    assert len(system.open_ports()) == 2
    assert [message for _, message in system.heard[SYNTH].messages()][-1] == NOTE_OFF


def test_a_system_that_answers_but_cannot_be_reached_is_still_gone():
    clock = Clock()
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH])
    edge = edge_over(system, clock, reconnect_timeout=5.0)
    edge.open()
    system.die()
    clock.now += 1.0
    edge.look()
    lost_since = edge.system_lost_since
    system.there, system.refuses = True, True
    clock.now += 1.0
    edge.look()
    assert edge.system_lost_since == lost_since and edge.reconnects == 0
    system.refuses = False
    clock.now += 1.0
    edge.look()
    assert edge.system_lost_since is None and edge.reconnects == 1


def test_a_system_gone_past_the_reconnect_timeout_is_a_failure():
    clock = Clock()
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH])
    edge = edge_over(system, clock, reconnect_timeout=5.0)
    edge.open()
    system.die()
    for _ in range(80):
        clock.now += 0.1
        edge.look()
        if edge.failure is not None:
            break
    assert edge.failure == "the alsa MIDI system has been gone for 5 s (--reconnect-timeout)"
    assert edge.stopped and clock.now - edge.system_lost_since > 5.0


def test_the_keeper_thread_takes_a_port_that_appears_and_close_leaves_nothing_open():
    system = FakeMidiSystem(destinations=[SYNTH])
    edge = edge_over(system)
    edge.open()
    edge.start()
    try:
        system.sources.append(KEYS)
        deadline = time.monotonic() + 5
        while edge.input.port is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert edge.input.port is not None and edge.is_alive()
    finally:
        edge.close()
    assert not edge.is_alive() and system.open_ports() == [] and not system.reached
