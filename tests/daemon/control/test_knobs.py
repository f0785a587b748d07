"""The keyboard's controls: program changes select models, a panic knob or key silences."""

from __future__ import annotations

import queue

import pytest
from steered import SlowController

from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.loading import load_config
from antiphon.daemon.control.knobs import request_for
from antiphon.daemon.midi.input_gate import InputGate, parse_channels

CONFIG = DaemonConfig(program_models="default, transformer, nade-jsb", panic_cc=119,
                      panic_note=21)


def test_a_program_change_selects_a_model_by_its_place():
    assert request_for([0xC0, 1], CONFIG) == {"command": "model", "name": "transformer"}
    assert request_for([0xC3, 2], CONFIG) == {"command": "model", "name": "nade-jsb"}
    assert request_for([0xC0, 0], CONFIG) is None  # the default plays already
    assert request_for([0xC0, 3], CONFIG) is None  # no fourth model
    assert request_for([0xC0, 1], DaemonConfig()) is None  # no program_models: ignored


def test_the_panic_knob_and_key():
    assert request_for([0xB0, 119, 127], CONFIG) == {"command": "panic"}
    assert request_for([0xB0, 119, 64], CONFIG) == {"command": "panic"}
    assert request_for([0xB0, 119, 63], CONFIG) is None  # back below the middle
    assert request_for([0xB0, 1, 127], CONFIG) is None  # another knob
    assert request_for([0x90, 21, 100], CONFIG) == {"command": "panic"}
    assert request_for([0x80, 21, 0], CONFIG) is None
    assert request_for([0x90, 22, 100], CONFIG) is None


@pytest.mark.parametrize(("overrides", "option"), [
    ({"panic_cc": 64}, "sustain pedal"), ({"panic_cc": 128}, "--panic-cc"),
    ({"panic_note": -1}, "--panic-note"), ({"program_models": " , "}, "--program-models"),
])
def test_bad_control_options_are_refused(overrides, option):
    with pytest.raises(ConfigError, match=option):
        load_config(None, {}, overrides, use_default_file=False)


def test_the_gate_hands_controls_over_and_keeps_the_panic_key_from_the_loop():
    inbox, taken = queue.SimpleQueue(), []
    gate = InputGate(inbox, parse_channels("1-9,11-16"))
    gate.controls, gate.control_notes = taken.append, frozenset({21})
    gate.take_controls({(channel, 119) for channel in range(16)}, {0})
    for message in ([0xB0, 119, 127], [0xC0, 1], [0x90, 21, 100], [0x80, 21, 0],
                    [0xB9, 119, 127],  # the drum channel is not listened to
                    [0xB0, 64, 127],  # the pedal goes to the loop, as always
                    [0x90, 60, 100]):
        gate(0.0, message)
    assert taken == [[0xB0, 119, 127], [0xC0, 1], [0x90, 21, 100], [0x80, 21, 0]]
    passed = []
    while not inbox.empty():
        passed.append(inbox.get_nowait()[1])
    assert passed == [[0xB0, 64, 127], [0x90, 60, 100]]
    assert gate.stats.controls == 4


def test_without_a_taker_controls_are_unused_and_the_panic_key_is_a_note():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, parse_channels("all"))
    gate(0.0, [0xB0, 119, 127])
    gate(0.0, [0x90, 21, 100])
    assert inbox.get_nowait()[1] == [0x90, 21, 100] and inbox.empty()
    assert gate.stats.unused == 1 and gate.stats.controls == 0


def test_the_end_of_call_knob_and_key_only_with_phrase_end_control():
    config = DaemonConfig(phrase_end="control", end_cc=118, end_note=108)
    assert request_for([0xB0, 118, 127], config) == {"command": "end_phrase"}
    assert request_for([0x90, 108, 90], config) == {"command": "end_phrase"}
    assert request_for([0xB0, 118, 10], config) is None
    assert request_for([0xB0, 118, 127], DaemonConfig(end_cc=118)) is None  # silence ends
    with pytest.raises(ConfigError, match="end_cc or an end_note"):
        DaemonConfig(phrase_end="control")


def test_a_learn_whose_client_went_away_ends_and_maps_nothing():
    import socket
    import threading
    import time

    from antiphon.daemon.control.knobs import KnobError, Knobs
    from antiphon.daemon.control.socket_server import _client_gone

    ours, theirs = socket.socketpair()
    ours.settimeout(10.0)  # as the control socket's connections have
    assert not _client_gone(ours)
    knobs = Knobs(SlowController(DaemonConfig()))
    threading.Timer(0.3, theirs.close).start()  # Ctrl-C on `antiphon learn`
    began = time.monotonic()
    with pytest.raises(KnobError, match="cancelled"):
        knobs.learn(20.0, client_gone=lambda: _client_gone(ours))
    assert time.monotonic() - began < 2.0  # not the whole 20 s
    assert _client_gone(ours)
    ours.close()
    assert knobs.learn(0.3) is None  # the next learn is not refused as "already learning"


def test_a_key_made_a_control_while_held_is_released_as_the_note_it_was():
    """`antiphon set panic_note 50` while 50 is held: its release must still reach the loop
    and MIDI thru, or the note thru sounded hangs and the call never ends."""
    inbox, taken, thru = queue.SimpleQueue(), [], []
    gate = InputGate(inbox, parse_channels("all"))
    gate.controls, gate.thru = taken.append, thru.append
    gate(0.0, [0x90, 50, 100])
    gate.control_notes = frozenset({50})
    gate(0.1, [0x80, 50, 0])
    assert thru == [[0x90, 50, 100], [0x80, 50, 0]] and taken == []
    gate(0.2, [0x90, 50, 100])  # pressed again: now it is the control
    gate(0.3, [0x80, 50, 0])
    assert taken == [[0x90, 50, 100], [0x80, 50, 0]] and len(thru) == 2


def test_a_client_that_only_shut_its_sending_side_still_waits_for_its_answer():
    import socket

    from antiphon.daemon.control.socket_server import _client_gone

    ours, theirs = socket.socketpair()
    theirs.shutdown(socket.SHUT_WR)  # `nc -N`: the request is sent, the answer awaited
    assert not _client_gone(ours)
    theirs.close()
    assert _client_gone(ours)
    ours.close()
