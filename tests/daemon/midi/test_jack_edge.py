"""jack_edge.JackEdge over an in-process JACK (edge_fakes.py): Antiphon's own ports always
open and connected to the named ports, a connection lost between two looks made again, an
output parked while its synth is away, the connections others made restored after the
server died, and the status. The same keeper over a real JACK server runs in tests/e2e
(test_ports_come_and_go.py, test_e2e_jack.py, test_clock_out_over_jack.py)."""

from __future__ import annotations

import logging

import pytest
from edge_fakes import Clock, FakeLinks, FakeMidiSystem

from antiphon.daemon.midi import jack_links, kept_ports
from antiphon.daemon.midi.edge import EdgeOptions
from antiphon.daemon.midi.edge_choice import choose_edge
from antiphon.daemon.midi.jack_edge import JackEdge
from antiphon.daemon.midi.loopback import MessageRecorder

KEYS = "Keystation:midi_out"
SYNTH = "fluidsynth:midi_00"
OWN_IN, OWN_OUT = "Antiphon In:in", "Antiphon Out:out"
NOTE_ON = [0x90, 60, 100]
NOTE_OFF = [0x80, 60, 0]


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(kept_ports, "PANIC_PACE_SECONDS", 0.0)
    monkeypatch.setattr(jack_links, "REMEMBER_SECONDS", 0.0)


def edge_over(system: FakeMidiSystem, clock: Clock | None = None, **options) -> JackEdge:
    options = {"in_port": "Keystation", "out_port": "fluidsynth", "panic_on_start": False,
               **options}
    links: list[FakeLinks] = []
    edge = JackEdge(EdgeOptions("jack", **options), system=system,
                    open_links=lambda: links.append(FakeLinks(system)) or links[-1])
    edge.watch = system.watch("jack", edge.options.reconnect_timeout, clock or Clock())
    edge.links_opened = links  # the test looks at every links client the edge opened
    return edge


def said(caplog, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def notes(recorder: MessageRecorder) -> list[list[int]]:
    return [message for _, message in recorder.messages()]


def test_choose_edge_keeps_connections_on_jack():
    assert isinstance(choose_edge(EdgeOptions("jack", None, None)), JackEdge)


def test_own_ports_open_at_once_and_are_connected_when_the_named_ports_appear(caplog):
    caplog.set_level(logging.INFO)
    system = FakeMidiSystem(jack=True)
    edge = edge_over(system, panic_on_start=True)
    heard = MessageRecorder()
    edge.input.set_receiver(heard)
    edge.open()
    for _ in range(3):
        edge.look()
    assert {port.own_name for port in system.open_ports()} == {OWN_IN, OWN_OUT}
    assert said(caplog, "waiting for input port 'Keystation' (there are: none)") == 1
    assert edge.output.port is None  # parked: an answer now would sound nowhere
    edge.output.send(NOTE_ON)
    assert edge.describe()["dropped_note_ons"] == 1
    assert edge.describe()["output"] == {"port": None, "wanted": "fluidsynth", "to": None,
                                         "state": "waiting"}
    assert edge.describe()["input"] == {"port": OWN_IN, "wanted": "Keystation", "to": None,
                                        "state": "waiting"}
    system.sources.append(KEYS)
    system.destinations.append(SYNTH)
    edge.look()
    assert (KEYS, OWN_IN) in system.connections and (OWN_OUT, SYNTH) in system.connections
    assert said(caplog, f"listening to {KEYS!r} through {OWN_IN!r}") == 1
    assert said(caplog, f"answering on {SYNTH!r} through {OWN_OUT!r}") == 1
    # The panic waits until the connection carries it, then reaches the synth.
    assert edge.links_opened[0].settled == [(OWN_OUT, SYNTH)]
    assert len(system.heard[SYNTH].messages()) == 16 * 130
    assert edge.describe()["output"]["to"] == SYNTH
    system.play(KEYS, NOTE_ON)
    assert notes(heard) == [NOTE_ON]


def test_a_keyboard_back_between_two_looks_is_connected_again(caplog):
    caplog.set_level(logging.INFO)
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH], jack=True)
    edge = edge_over(system)
    heard = MessageRecorder()
    edge.input.set_receiver(heard)
    edge.open()
    own_port = edge.input.port
    system.play(KEYS, NOTE_ON)
    system.unplug(KEYS)  # the keyboard's client quits and comes back under its name:
    system.sources.append(KEYS)  # listed as before, its connection gone
    edge.look()
    assert said(caplog, f"input port {KEYS!r} went away: waiting for it to come back") == 1
    assert notes(heard) == [NOTE_ON, NOTE_OFF]  # the key it held is let go
    assert (KEYS, OWN_IN) in system.connections and edge.input.port is own_port
    assert said(caplog, f"listening to {KEYS!r} through {OWN_IN!r}") == 2
    assert edge.describe()["input"]["state"] == "connected"


def test_a_synth_away_parks_the_output_and_is_owed_the_answers_notes():
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH], jack=True)
    edge = edge_over(system)
    edge.open()
    own_port = edge.output.port
    edge.output.send(NOTE_ON)
    system.unplug(SYNTH)
    edge.look()
    assert edge.output.port is None and not own_port.closed  # parked, still Antiphon's
    assert edge.describe()["output"]["state"] == "waiting"
    system.destinations.append(SYNTH)
    system.heard.clear()
    edge.look()
    assert edge.output.port is own_port
    assert notes(system.heard[SYNTH]) == [NOTE_OFF]
    assert edge.links_opened[0].settled[-1] == (OWN_OUT, SYNTH)  # owed notes wait for it


def test_a_virtual_input_whose_player_unplugs_with_a_key_down_lets_it_go():
    system = FakeMidiSystem(sources=[KEYS], jack=True)
    edge = edge_over(system, in_port=None, out_port=None)
    heard = MessageRecorder()
    edge.input.set_receiver(heard)
    system.sources.remove(KEYS)  # no hardware to take: a virtual port others connect to
    edge.open()
    system.sources.append(KEYS)
    system.connections.add((KEYS, OWN_IN))  # the player connects it themselves
    system.play(KEYS, NOTE_ON)
    edge.look()
    assert notes(heard) == [NOTE_ON]  # still connected: the key is held
    system.unplug(KEYS)
    edge.look()
    assert notes(heard) == [NOTE_ON, NOTE_OFF]
    assert edge.describe()["input"]["state"] == "open"


def test_a_dead_server_closes_everything_and_the_connections_others_made_come_back(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH, "recorder:in"], jack=True)
    edge = edge_over(system, clock, clock_out="drums")
    edge.open()
    system.connections.add((OWN_OUT, "recorder:in"))  # a patchbay's connection
    edge.look()
    edge.output.send(NOTE_ON)
    system.die()
    clock.now += 1.0
    edge.look()
    assert system.open_ports() == [] and edge.links_opened[0].closed
    assert edge.describe()["system"].startswith("lost")
    assert said(caplog, "the jack MIDI system stopped answering") == 1
    system.there = True
    clock.now += 1.0
    edge.look()
    assert edge.reconnects == 1 and len(edge.links_opened) == 2
    assert {(KEYS, OWN_IN), (OWN_OUT, SYNTH), (OWN_OUT, "recorder:in")} <= system.connections
    assert said(caplog, f"connected {OWN_OUT!r} to 'recorder:in' again") == 1
    assert notes(system.heard[SYNTH])[-1] == NOTE_OFF  # the cut answer's note let go
    assert edge.describe()["clock_out"]["state"] == "waiting"  # no drum machine yet


def test_a_silent_probe_while_the_server_answers_keeps_every_port():
    clock = Clock()
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH], jack=True)
    edge = edge_over(system, clock)
    edge.open()
    edge.input.port.reader.silence_proven = lambda seconds: True  # our threads starved
    for _ in range(20):
        clock.now += 0.1
        edge.look()
    assert edge.system_lost_since is None and edge.watch.doubts >= 1
    assert (KEYS, OWN_IN) in system.connections and len(system.open_ports()) == 2


def test_without_a_links_client_the_edge_does_not_open():
    system = FakeMidiSystem(sources=[KEYS], destinations=[SYNTH], jack=True)
    edge = JackEdge(EdgeOptions("jack", "Keystation", "fluidsynth"), system=system,
                    open_links=lambda: None)
    with pytest.raises(OSError, match="cannot ask the JACK server about connections"):
        edge.open()
    assert not system.reached and system.open_ports() == []


def test_close_closes_the_parked_ports_and_the_links():
    system = FakeMidiSystem(jack=True)
    edge = edge_over(system, clock_out="drums")
    edge.open()
    assert len(system.open_ports()) == 3  # input, and the output and clock out parked
    edge.close()
    assert system.open_ports() == [] and edge.links_opened[0].closed and not system.reached
