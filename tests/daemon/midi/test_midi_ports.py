import pytest

from antiphon.daemon.midi import backends
from antiphon.daemon.midi.backends import resolve_backend
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.midi.ports import (
    PortNotFoundError,
    default_input_port,
    find_port,
    is_hardware_port,
)

ALSA_INPUTS = [
    "Midi Through:Midi Through Port-0 14:0",
    "Antiphon:Antiphon In 128:0",
    "Keystation 49:Keystation 49 MIDI 1 24:0",
    "VMPK Output:out 129:0",
]
JACK_INPUTS = ["Antiphon:Antiphon Out", "ardour:MIDI out", "system:midi_capture_1"]


def test_find_port_prefers_an_exact_name_then_a_substring():
    names = ["Keystation 49 MIDI 1", "Keystation 49", "Synth"]
    assert find_port(names, "Keystation 49", "input") == 1
    assert find_port(names, "keystation", "input") == 0  # case-insensitive
    assert find_port(names, "synth", "output") == 2


def test_missing_port_lists_the_ports_there_are():
    with pytest.raises(PortNotFoundError) as caught:
        find_port(["Keystation 49", "Synth"], "Launchkey", "input")
    message = str(caught.value)
    assert "'Launchkey'" in message and "'Keystation 49'" in message and "'Synth'" in message
    assert isinstance(caught.value, OSError)
    with pytest.raises(PortNotFoundError, match="available outputs: none"):
        find_port([], "Synth", "output")


def test_a_missing_port_never_suggests_antiphons_own():
    outputs = ["Antiphon:Antiphon In", "Antiphon probe:probe", "fluidsynth:midi_00"]
    with pytest.raises(PortNotFoundError) as caught:
        find_port(outputs, "no-such-synth", "output", exclude=outputs[:2])
    assert "fluidsynth" in str(caught.value) and "Antiphon" not in str(caught.value)
    with pytest.raises(PortNotFoundError):
        find_port(outputs, "Antiphon In", "output", exclude=outputs[:2])


def test_hardware_ports_are_told_from_programs():
    assert [is_hardware_port(name, "alsa") for name in ALSA_INPUTS] == [
        False, False, True, False]
    assert [is_hardware_port(name, "jack") for name in JACK_INPUTS] == [False, False, True]
    assert default_input_port(ALSA_INPUTS, "alsa") == 2
    assert default_input_port(ALSA_INPUTS[:2], "alsa") is None  # then a virtual port
    assert default_input_port(["IAC Driver Bus 1", "Launchkey"], "coremidi") == 0


def test_backend_names_are_checked():
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("oss")


def test_auto_prefers_alsa_then_jack_on_linux(monkeypatch):
    monkeypatch.setattr(backends.sys, "platform", "linux")
    monkeypatch.setattr(backends, "compiled_backends", lambda: ["alsa", "jack"])
    monkeypatch.setattr(backends.os.path, "exists", lambda path: True)
    assert resolve_backend("auto") == "alsa"
    monkeypatch.setattr(backends.os.path, "exists", lambda path: False)
    monkeypatch.setattr(backends, "jack_server_running", lambda: True)
    assert resolve_backend("auto") == "jack"
    monkeypatch.setattr(backends, "jack_server_running", lambda: False)
    with pytest.raises(OSError, match="/dev/snd/seq.*JACK"):
        resolve_backend("auto")


def test_a_backend_this_build_lacks_is_an_os_error(monkeypatch):
    monkeypatch.setattr(backends, "compiled_backends", lambda: ["alsa"])
    with pytest.raises(OSError, match="'winmm' is not available.*alsa"):
        resolve_backend("winmm")


def test_loopback_ports_deliver_with_a_timestamp():
    output, receiver = loopback_pair("x")
    recorder = MessageRecorder()
    receiver.set_receiver(recorder)
    output.send((0x90, 60, 100))
    [(arrived, message)] = recorder.messages()
    assert message == [0x90, 60, 100] and arrived > 0
    output.close()
    with pytest.raises(OSError, match="closed"):
        output.send([0x80, 60, 0])
