"""MIDI thru sends on every controller the player moves but Antiphon's own: the knobs of the
map on the knob channel, the panic and end-of-call knobs, program changes that select a model.
A mod wheel, an expression or soft pedal, a knob on another channel, a pitch bend, aftertouch
and a program meant for the synth reach the synth as played; the loop never hears them."""

from __future__ import annotations

import queue
import threading

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import wait_until

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.knobs import Knobs, taken_controls
from antiphon.daemon.midi.echo_guard import EchoGuard
from antiphon.daemon.midi.input_gate import GateSettings, InputGate, parse_channels
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.service.daemon import Daemon

MAP = "temperature=21:0.5..1.5, top_p=22:0.5..1"
CONFIG = DaemonConfig(cc_map=MAP, panic_cc=20, end_cc=25, phrase_end="control")


def gate_for(config: DaemonConfig):
    """A gate with MIDI thru and knobs taking what `config` maps: (gate, inbox, thru, knobs)."""
    inbox, thru, knobs = queue.SimpleQueue(), [], []
    ccs, programs = taken_controls(config)
    gate = InputGate(inbox, config.listened_channels(), thru=thru.append,
                     controls=knobs.append, control_ccs=ccs, program_channels=programs)
    return gate, inbox, thru, knobs


@pytest.mark.parametrize("message", [
    [0xB0, 1, 90],  # mod wheel
    [0xB0, 11, 70],  # expression
    [0xB0, 66, 127],  # sostenuto
    [0xB0, 67, 127],  # soft pedal
    [0xB0, 2, 40],  # breath
    [0xB0, 7, 100],  # volume
    [0xB1, 21, 64],  # a knob of the map, but on a channel the knobs do not listen on
    [0xB0, 23, 64],  # a knob on no map
    [0xE0, 0, 80],  # pitch bend
    [0xD0, 50],  # channel aftertouch
    [0xA0, 60, 50],  # poly aftertouch
    [0xC0, 4],  # a program for the synth: program_models selects nothing
], ids=["mod wheel", "expression", "sostenuto", "soft pedal", "breath", "volume",
        "knob elsewhere", "unmapped", "pitch bend", "channel pressure", "poly pressure",
        "program"])
def test_the_players_controllers_pass_thru_and_never_reach_the_loop_or_the_knobs(message):
    gate, inbox, thru, knobs = gate_for(CONFIG)
    gate(0.0, message)
    assert thru == [message] and knobs == [] and inbox.empty()
    assert gate.stats.thru_only == 1 and gate.stats.controls == 0


@pytest.mark.parametrize("message", [
    [0xB0, 21, 90], [0xB0, 22, 10],  # the map's knobs, on the knob channel
    [0xB0, 20, 127], [0xB3, 20, 127],  # the panic knob, on any channel listened to
    [0xB0, 25, 127], [0xB5, 25, 0],  # the end-of-call knob
], ids=["temperature", "top_p", "panic", "panic elsewhere", "end", "end elsewhere"])
def test_antiphons_own_knobs_go_to_the_knobs_and_never_thru(message):
    gate, inbox, thru, knobs = gate_for(CONFIG)
    gate(0.0, message)
    assert knobs == [message] and thru == [] and inbox.empty()


def test_program_changes_select_models_only_on_the_knob_channel():
    gate, inbox, thru, knobs = gate_for(DaemonConfig(program_models="default, transformer",
                                                     knob_channel="2"))
    for message in ([0xC1, 1], [0xC0, 1], [0xC2, 0]):
        gate(0.0, message)
    assert knobs == [[0xC1, 1]] and thru == [[0xC0, 1], [0xC2, 0]] and inbox.empty()


def test_without_thru_the_players_controllers_are_unused_as_before():
    gate, inbox, _, knobs = gate_for(CONFIG)
    gate.retune(GateSettings(CONFIG.listened_channels(), None, frozenset(),
                             *taken_controls(CONFIG)))  # `antiphon set thru off`
    for message in ([0xB0, 1, 90], [0xE0, 0, 80], [0xD0, 50], [0xB0, 21, 5]):
        gate(0.0, message)
    assert knobs == [[0xB0, 21, 5]] and inbox.empty() and gate.stats.unused == 3


def test_controllers_on_channels_not_listened_to_do_not_pass():
    gate, inbox, thru, knobs = gate_for(CONFIG)  # the drum channel, 10, is not listened to
    for message in ([0xB9, 1, 90], [0xE9, 0, 80], [0xC9, 3]):
        gate(0.0, message)
    assert thru == [] and knobs == [] and gate.stats.other_channels == 3


def test_the_pedal_and_the_notes_still_reach_the_loop_and_thru():
    gate, inbox, thru, _ = gate_for(CONFIG)
    played = [[0x90, 60, 90], [0xB0, 1, 30], [0xB0, 64, 127], [0xE0, 0, 70],
              [0xB0, 64, 0], [0x80, 60, 0]]
    for message in played:
        gate(0.0, message)
    assert thru == played
    heard = []
    while not inbox.empty():
        heard.append(inbox.get_nowait()[1])
    assert heard == [played[0], played[2], played[4], played[5]]


def test_a_malformed_message_passes_nowhere():
    gate, inbox, thru, knobs = gate_for(CONFIG)
    for message in ([0xB0, 1], [0xE0, 0], [0xD0, 50, 3], [0xB0, 1, 200], [0xC0, 128]):
        gate(0.0, message)
    assert thru == [] and knobs == [] and inbox.empty()


def test_a_learn_takes_any_controller_and_then_lets_the_others_pass_again():
    gate, _, thru, knobs = gate_for(CONFIG)
    gate.take_every_cc(True)
    gate(0.0, [0xB0, 1, 10])
    assert knobs == [[0xB0, 1, 10]] and thru == []
    gate.take_every_cc(False)
    gate(0.0, [0xB0, 1, 11])
    assert thru == [[0xB0, 1, 11]]


@pytest.mark.parametrize("message", [[0xE0, 0, 80], [0xD0, 50], [0xA0, 60, 50], [0xC0, 4],
                                     [0xB0, 1, 90]],
                         ids=["pitch bend", "channel pressure", "poly pressure", "program",
                              "mod wheel"])
def test_thrus_controller_back_round_a_loop_is_dropped_not_sent_again(message):
    """Antiphon Out patched back into Antiphon In: the bend MIDI thru sent comes back and
    must not go out again, round and round."""
    guard = EchoGuard()
    sent, now = [], [10.0]
    gate = InputGate(queue.SimpleQueue(), CONFIG.listened_channels(), echo_guard=guard,
                     thru=lambda each: (sent.append(each), guard.sent(each, now[0])))
    for now[0] in (10.0, 10.002):  # the player's, then thru's come back
        gate(now[0], message)
    assert sent == [message] and gate.stats.echoes == 1


def daemon_with(config: DaemonConfig):
    """A daemon on loopback ports, its controller, and the knobs and thru its gate feeds."""
    _, daemon_in = loopback_pair("keys")
    daemon_out, _ = loopback_pair("synth")
    daemon = Daemon(config, FakeSession(), daemon_in, daemon_out)
    controller = Controller(daemon, lambda: config, lambda _: None)
    return daemon, controller


def routes(daemon: Daemon, message: list[int]) -> str:
    """Where the daemon's gate sends `message`: "knobs", "thru" or "nowhere"."""
    taken, thru = [], []
    daemon.gate.controls, daemon.gate.thru = taken.append, thru.append
    daemon.gate(0.0, message)
    return "knobs" if taken else "thru" if thru else "nowhere"


def test_a_change_of_map_or_knob_channel_changes_what_passes_thru():
    daemon, controller = daemon_with(DaemonConfig(cc_map=MAP, thru=True,
                                                  program_models="default, transformer"))
    assert routes(daemon, [0xB0, 1, 5]) == "thru" and routes(daemon, [0xB0, 21, 5]) == "knobs"
    assert routes(daemon, [0xC0, 1]) == "knobs" and routes(daemon, [0xB6, 30, 127]) == "thru"
    for key, value in (("cc_map", "top_p=1:0.5..1"), ("knob_channel", "2"),
                       ("panic_cc", "30")):
        answer = controller.handle({"command": "set", "key": key, "value": value})
        assert answer["ok"], answer
    assert routes(daemon, [0xB0, 21, 5]) == "thru"  # off the map
    assert routes(daemon, [0xB0, 1, 5]) == "thru"  # on the map, but on channel 2 now
    assert routes(daemon, [0xB1, 1, 5]) == "knobs"
    assert routes(daemon, [0xB6, 30, 127]) == "knobs"  # the panic knob, any channel
    assert routes(daemon, [0xC1, 1]) == "knobs" and routes(daemon, [0xC0, 1]) == "thru"


def test_a_reload_applies_the_new_maps_controls():
    configs = [DaemonConfig(cc_map=MAP, thru=True)]
    daemon, _ = daemon_with(configs[0])
    controller = Controller(daemon, lambda: configs[-1], lambda _: None)
    configs.append(DaemonConfig(cc_map="temperature=1:0.5..1.5", thru=True))
    answer = controller.handle({"command": "reload"})
    assert answer["ok"], answer
    assert routes(daemon, [0xB0, 1, 5]) == "knobs" and routes(daemon, [0xB0, 21, 5]) == "thru"


def test_a_knob_learnt_through_the_gate_is_taken_and_the_rest_passes_again():
    keyboard, daemon_in = loopback_pair("keys")
    daemon_out, recorder_in = loopback_pair("synth")
    recorder = MessageRecorder()
    recorder_in.set_receiver(recorder)
    config = DaemonConfig(thru=True, seed=7, device="cpu")
    knobs = Knobs()  # as wiring.py makes them: the gate is given the knobs as it is made
    daemon = Daemon(config, FakeSession(), daemon_in, daemon_out, knobs=knobs)
    controller = Controller(daemon, lambda: config, lambda _: None, knobs=knobs)
    knobs.start(controller)
    daemon.start()
    answers = queue.SimpleQueue()
    heard = lambda: [m for _, m in recorder.messages()]  # noqa: E731
    try:
        threading.Thread(target=lambda: answers.put(controller.handle(
            {"command": "learn", "key": "top_p", "timeout": 10}))).start()
        assert wait_until(lambda: knobs._learning is not None, 5)
        keyboard.send([0xB0, 30, 3])
        answer = answers.get(timeout=15)
        assert answer["ok"] and answer["learned"]["cc"] == 30, answer
        keyboard.send([0xB0, 30, 127])
        assert wait_until(lambda: daemon.config.top_p == 1.0, 5)
        keyboard.send([0xB0, 1, 77])  # the mod wheel, after the learn: the synth's
        assert wait_until(lambda: [0xB0, 1, 77] in heard(), 5), heard()
        assert not [m for m in heard() if m[:2] == [0xB0, 30]]  # the knob never reached it
    finally:
        knobs.stop()
        daemon.stop()


def test_the_gate_alone_takes_nothing_it_is_not_told_of():
    thru, knobs = [], []
    gate = InputGate(queue.SimpleQueue(), parse_channels("all"), thru=thru.append,
                     controls=knobs.append)
    gate(0.0, [0xB0, 21, 5])
    assert thru == [[0xB0, 21, 5]] and knobs == []
