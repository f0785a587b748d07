"""KeptInput / KeptOutput: ports that outlive the real ports under them, and the panic."""

from __future__ import annotations

import logging
import time

import pytest

from antiphon.daemon.midi import kept_ports
from antiphon.daemon.midi.kept_ports import KeptInput, KeptOutput, send_panic
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair

PANIC_SIZE = 16 * 130


class RecordingOutput:
    """An output port that keeps what it is sent (as tuples)."""

    def __init__(self, name: str = "synth", own_name: str | None = None) -> None:
        self.name = name
        if own_name is not None:
            self.own_name = own_name
        self.sent: list[tuple[int, ...]] = []
        self.closed = False

    def send(self, message) -> None:
        self.sent.append(tuple(message))

    def close(self) -> None:
        self.closed = True


class BrokenOutput(RecordingOutput):
    """An output whose port has gone away: every send fails as rtmidi's would."""

    def send(self, message) -> None:
        raise OSError(f"MIDI output {self.name!r} is gone")


class FakeInputPort:
    """What KeptInput.attach needs of an rtmidi input: names and set_receiver."""

    def __init__(self, name: str = "Keystation 49", own_name: str = "Antiphon In:in") -> None:
        self.name = name
        self.own_name = own_name
        self.callback = None
        self.closed = False

    def set_receiver(self, callback) -> None:
        self.callback = callback

    def play(self, *messages) -> None:
        for message in messages:
            if self.callback is not None:
                self.callback(time.perf_counter(), list(message))

    def close(self) -> None:
        self.closed = True


def on(channel: int, pitch: int, velocity: int = 100) -> tuple[int, int, int]:
    """A note-on on a 0-based channel."""
    return (0x90 | channel, pitch, velocity)


def off(channel: int, pitch: int) -> tuple[int, int, int]:
    return (0x80 | channel, pitch, 0)


@pytest.fixture
def no_pace(monkeypatch):
    monkeypatch.setattr(kept_ports, "PANIC_PACE_SECONDS", 0.0)


def assert_releases_everything(sent) -> None:
    sent = set(sent)
    for channel in range(16):
        for pitch in range(128):
            assert off(channel, pitch) in sent, (channel, pitch)
        assert (0xB0 | channel, 120, 0) in sent  # All Sound Off
        assert (0xB0 | channel, 123, 0) in sent  # All Notes Off


# -- KeptOutput ------------------------------------------------------------------------


def test_send_passes_through_and_tracks_what_sounds():
    port = RecordingOutput()
    kept = KeptOutput("Antiphon Out")
    kept.attach(port)
    kept.send(on(0, 60))
    kept.send(on(3, 64))
    kept.send([0x90, 67, 90])  # a list works as well
    kept.send(off(0, 60))
    kept.send((0x90, 67, 0))  # velocity 0 releases
    kept.send((0xB0, 64, 127))  # not a note: passed, not tracked
    kept.send((0xF8,))
    assert port.sent == [on(0, 60), on(3, 64), (0x90, 67, 90), off(0, 60), (0x90, 67, 0),
                         (0xB0, 64, 127), (0xF8,)]
    assert kept.sounding == [(3, 64)]
    assert kept.dropped_note_ons == 0 and kept.send_errors == 0


def test_attach_takes_the_names_of_the_port():
    kept = KeptOutput("Antiphon Out")
    kept.attach(RecordingOutput("fluidsynth:midi_00"))
    assert kept.name == kept.own_name == "fluidsynth:midi_00"  # no own_name: the name
    kept.attach(RecordingOutput("synth", own_name="Antiphon Out:out"))
    assert (kept.name, kept.own_name) == ("synth", "Antiphon Out:out")


def test_while_detached_note_ons_are_dropped_and_nothing_raises():
    port = RecordingOutput()
    kept = KeptOutput("out")
    kept.attach(port)
    kept.send(on(0, 60))
    assert kept.detach() is port
    assert kept.port is None
    kept.send(on(0, 62))
    kept.send(on(1, 62))
    kept.send((0x90, 63, 0))  # a release: not a dropped note-on
    kept.send(off(0, 60))
    kept.send((0xB0, 7, 100))
    kept.send((0xFA,))
    assert port.sent == [on(0, 60)]  # the lost port hears nothing more
    assert kept.dropped_note_ons == 2
    assert kept.detach() is None  # detaching twice is harmless


def test_attach_first_releases_what_the_lost_port_sounded():
    lost, new = RecordingOutput("lost"), RecordingOutput("new")
    kept = KeptOutput("out")
    kept.attach(lost)
    kept.send(on(3, 64))
    kept.send(on(0, 60))
    kept.send(on(0, 72))
    kept.send(off(0, 72))  # released on the lost port: not owed
    kept.detach()
    assert kept.sounding == [(0, 60), (3, 64)]  # owed
    kept.send(on(5, 50))  # dropped: nothing owed for it
    kept.attach(new)
    assert new.sent == [off(0, 60), off(3, 64)]
    assert kept.sounding == []
    kept.send(on(1, 70))
    kept.send(off(1, 70))
    assert new.sent[2:] == [on(1, 70), off(1, 70)]
    assert lost.sent == [on(3, 64), on(0, 60), on(0, 72), off(0, 72)]


def test_a_release_sent_while_detached_stays_owed_and_is_sent_once():
    new = RecordingOutput("new")
    kept = KeptOutput("out")
    kept.attach(RecordingOutput("lost"))
    kept.send(on(2, 40))
    kept.detach()
    kept.send(off(2, 40))  # the port that sounded it is gone
    kept.send(off(2, 40))
    kept.attach(new)
    assert new.sent == [off(2, 40)]


def test_owed_notes_survive_several_detaches():
    kept = KeptOutput("out")
    kept.attach(RecordingOutput("first"))
    kept.send(on(0, 60))
    kept.detach()
    kept.detach()
    new = RecordingOutput("second")
    kept.attach(new)
    assert new.sent == [off(0, 60)]
    kept.detach()
    newer = RecordingOutput("third")
    kept.attach(newer)
    assert newer.sent == []  # already released on the second port


def test_attach_over_an_attached_port_releases_its_notes_on_the_new_one():
    first, second = RecordingOutput("first"), RecordingOutput("second")
    kept = KeptOutput("out")
    kept.attach(first)
    kept.send(on(0, 60))
    kept.attach(second)
    assert second.sent == [off(0, 60)]
    assert kept.sounding == []


def test_releasing_owed_notes_is_logged(caplog):
    caplog.set_level(logging.WARNING, logger=kept_ports.__name__)
    kept = KeptOutput("out")
    kept.attach(RecordingOutput("lost"))
    kept.detach()
    kept.attach(RecordingOutput("quiet"))
    assert caplog.records == []  # nothing owed, nothing said
    kept.send(on(0, 60))
    kept.send(on(0, 61))
    kept.detach()
    kept.attach(RecordingOutput("synth"))
    assert any("released 2 notes" in r.getMessage() and "'synth'" in r.getMessage()
               for r in caplog.records)


def test_panic_on_attach_sends_a_full_panic_once(no_pace):
    kept = KeptOutput("out")
    kept.attach(RecordingOutput("lost"))
    kept.send(on(4, 33))
    kept.detach()
    kept.panic_on_attach = True
    new = RecordingOutput("new")
    kept.attach(new)
    assert kept.panic_on_attach is False
    assert new.sent[0] == off(4, 33)  # the owed release first
    assert len(new.sent) == 1 + PANIC_SIZE
    assert_releases_everything(new.sent[1:])
    assert kept.sounding == []
    kept.detach()
    newer = RecordingOutput("newer")
    kept.attach(newer)
    assert newer.sent == []  # once only


def test_panic_on_attach_with_nothing_owed(no_pace):
    kept = KeptOutput("out")
    kept.panic_on_attach = True
    port = RecordingOutput()
    kept.attach(port)
    assert len(port.sent) == PANIC_SIZE
    assert_releases_everything(port.sent)


def test_a_failing_send_is_counted_not_raised_and_sounds_nothing():
    out, receiver = loopback_pair("synth")
    recorder = MessageRecorder()
    receiver.set_receiver(recorder)
    kept = KeptOutput("out")
    kept.attach(out)
    kept.send(on(0, 60))
    out.close()  # the port dies under the kept output
    kept.send(on(0, 61))  # fails: not sounding
    kept.send(off(0, 60))  # fails: still sounding
    assert kept.send_errors == 2
    assert kept.sounding == [(0, 60)]
    assert [message for _, message in recorder.messages()] == [[0x90, 60, 100]]
    kept.detach()
    new = RecordingOutput("new")
    kept.attach(new)
    assert new.sent == [off(0, 60)]


def test_attach_to_a_port_that_fails_at_once_does_not_raise(caplog):
    kept = KeptOutput("out")
    kept.attach(RecordingOutput("lost"))
    kept.send(on(0, 60))
    kept.detach()
    broken = BrokenOutput("broken")
    kept.attach(broken)  # must not raise
    assert kept.port is broken
    kept.send(on(0, 61))
    assert kept.send_errors == 1
    assert any("could not release" in r.getMessage() for r in caplog.records)


def test_releases_a_failing_port_could_not_send_stay_owed():
    kept = KeptOutput("out")
    kept.attach(RecordingOutput("lost"))
    kept.send(on(0, 60))
    kept.send(on(1, 62))
    kept.detach()
    kept.attach(BrokenOutput("flaky"))  # comes and goes at once
    kept.detach()
    good = RecordingOutput("good")
    kept.attach(good)
    assert good.sent == [off(0, 60), off(1, 62)]


def test_close_detaches_and_closes_the_port():
    port = RecordingOutput()
    kept = KeptOutput("out")
    kept.attach(port)
    kept.send(on(0, 60))
    kept.close()
    assert port.closed and kept.port is None
    kept.send(on(0, 61))  # no port, no error
    assert kept.dropped_note_ons == 1
    kept.close()  # twice is harmless


def test_through_a_loopback_pair():
    out, receiver = loopback_pair("synth")
    recorder = MessageRecorder()
    receiver.set_receiver(recorder)
    kept = KeptOutput("out")
    kept.attach(out)
    kept.send(on(9, 36))
    kept.detach()
    kept.send(on(9, 38))
    kept.attach(out)
    kept.send(on(0, 60))
    assert [message for _, message in recorder.messages()] == [
        [0x99, 36, 100], [0x89, 36, 0], [0x90, 60, 100]]


# -- KeptInput -------------------------------------------------------------------------


def test_attach_routes_the_port_to_the_callback_and_takes_its_names():
    received = MessageRecorder()
    kept = KeptInput("Antiphon In")
    kept.set_receiver(received)
    port = FakeInputPort("Keystation 49", "Antiphon In:in")
    kept.attach(port)
    assert kept.port is port
    assert (kept.name, kept.own_name) == ("Keystation 49", "Antiphon In:in")
    assert port.callback is not None
    port.play(on(0, 60), (0xB0, 64, 127), (0xF8,), off(0, 60))
    assert [message for _, message in received.messages()] == [
        [0x90, 60, 100], [0xB0, 64, 127], [0xF8], [0x80, 60, 0]]


def test_detach_releases_the_keys_still_held():
    received = MessageRecorder()
    kept = KeptInput("in")
    kept.set_receiver(received)
    port = FakeInputPort()
    kept.attach(port)
    port.play(on(0, 60), on(4, 64), on(0, 67), on(0, 72), off(0, 67), (0x90, 72, 0))
    before = len(received.messages())
    started = time.perf_counter()
    assert kept.detach() is port
    assert port.callback is None
    releases = received.messages()[before:]
    assert [message for _, message in releases] == [[0x80, 60, 0], [0x84, 64, 0]]
    assert all(started <= arrived <= time.perf_counter() for arrived, _ in releases)
    assert kept.port is None
    port.play(on(0, 50))  # a late message of the closed port: nobody hears it
    assert len(received.messages()) == before + 2
    kept.detach()  # nothing held any more, nothing delivered
    assert len(received.messages()) == before + 2


def test_a_new_port_starts_with_nothing_held():
    received = MessageRecorder()
    kept = KeptInput("in")
    kept.set_receiver(received)
    first, second = FakeInputPort("first"), FakeInputPort("second")
    kept.attach(first)
    first.play(on(0, 60))
    kept.detach()
    kept.attach(second)
    assert kept.name == "second"
    second.play(on(1, 40))
    before = len(received.messages())
    kept.detach()
    assert [message for _, message in received.messages()[before:]] == [[0x81, 40, 0]]


def test_detach_without_a_callback_or_a_port_is_harmless():
    kept = KeptInput("in")
    assert kept.detach() is None
    port = FakeInputPort()
    kept.attach(port)
    port.play(on(0, 60))
    assert kept.detach() is port  # no callback: the release goes nowhere, no error


def test_close_closes_the_port_without_delivering_releases():
    received = MessageRecorder()
    kept = KeptInput("in")
    kept.set_receiver(received)
    port = FakeInputPort()
    kept.attach(port)
    port.play(on(0, 60))
    kept.close()
    assert port.closed and port.callback is None and kept.port is None
    assert [message for _, message in received.messages()] == [[0x90, 60, 100]]


def test_loopback_input_under_a_kept_input():
    out, receiver = loopback_pair("keyboard")
    receiver.own_name = "Antiphon In:in"  # what an rtmidi input has besides its name
    received = MessageRecorder()
    kept = KeptInput("in")
    kept.set_receiver(received)
    kept.attach(receiver)
    out.send([0x92, 48, 80])
    out.send([0x92, 52, 80])
    out.send([0x82, 48, 0])
    kept.detach()
    out.send([0x92, 55, 80])  # the receiver's callback is gone
    assert [message for _, message in received.messages()] == [
        [0x92, 48, 80], [0x92, 52, 80], [0x82, 48, 0], [0x82, 52, 0]]


# -- the panic -------------------------------------------------------------------------


def test_send_panic_releases_every_note_on_every_channel(no_pace):
    port = RecordingOutput()
    assert send_panic(port) == PANIC_SIZE
    assert len(port.sent) == PANIC_SIZE
    assert_releases_everything(port.sent)


def test_send_panic_on_some_channels(no_pace):
    port = RecordingOutput()
    assert send_panic(port, [0, 9]) == 260
    assert {message[0] & 0x0F for message in port.sent} == {0, 9}


def test_send_panic_is_paced_between_channels():
    port = RecordingOutput()
    started = time.perf_counter()
    send_panic(port)
    assert time.perf_counter() - started >= 16 * kept_ports.PANIC_PACE_SECONDS * 0.9


def test_send_panic_through_a_kept_output_silences_what_it_tracks(no_pace):
    port = RecordingOutput()
    kept = KeptOutput("out")
    kept.attach(port)
    kept.send(on(0, 60))
    kept.send(on(15, 127))
    assert send_panic(kept) == PANIC_SIZE
    assert kept.sounding == []
    assert_releases_everything(port.sent[2:])


def test_send_panic_with_no_port_does_not_raise(no_pace):
    kept = KeptOutput("out")
    assert send_panic(kept) == PANIC_SIZE  # counted as sent, though nothing can sound
    assert kept.dropped_note_ons == 0
