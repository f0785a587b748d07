"""The sustain pedal: a key let go under it sounds on until the pedal lifts."""

from antiphon.daemon.midi.wire import sustain_state
from antiphon.daemon.play.pedal import SustainPedal
from antiphon.engine.events import NoteEvent


def test_sustain_messages_are_read_as_down_or_up():
    assert sustain_state([0xB3, 64, 64]) is True and sustain_state([0xB3, 64, 127]) is True
    assert sustain_state([0xB3, 64, 63]) is False and sustain_state([0xB0, 64, 0]) is False
    for other in ([0xB0, 1, 127], [0x90, 64, 100], [0xB0, 64], [0xB0, 64, 200], [0xF8]):
        assert sustain_state(other) is None


def test_releases_under_the_pedal_end_when_it_lifts():
    pedal = SustainPedal()
    assert pedal.note(0, NoteEvent(0, 60, 90)) == [NoteEvent(0, 60, 90)]
    assert pedal.pedal(0, True, 6) == []
    assert pedal.note(0, NoteEvent(12, 60, 0)) == []  # let go: it rings
    assert pedal.note(0, NoteEvent(12, 64, 90)) == [NoteEvent(12, 64, 90)]
    assert pedal.note(0, NoteEvent(20, 64, 0)) == []
    assert pedal.note(0, NoteEvent(20, 64, 0)) == []  # a repeated release changes nothing
    assert pedal.pedal(0, False, 48) == [NoteEvent(48, 60, 0), NoteEvent(48, 64, 0)]
    assert pedal.pedal(0, False, 50) == []
    assert pedal.note(0, NoteEvent(60, 60, 0)) == [NoteEvent(60, 60, 0)]  # no pedal: at once


def test_a_key_struck_again_while_it_rings_ends_the_ringing_note_first():
    pedal = SustainPedal()
    pedal.pedal(0, True, 0)
    pedal.note(0, NoteEvent(0, 60, 90))
    pedal.note(0, NoteEvent(10, 60, 0))
    assert pedal.note(0, NoteEvent(20, 60, 80)) == [NoteEvent(20, 60, 0), NoteEvent(20, 60, 80)]
    assert pedal.pedal(0, False, 30) == []  # the key is down again: the pedal holds nothing


def test_each_channel_has_its_own_pedal():
    pedal = SustainPedal()
    pedal.pedal(1, True, 0)
    pedal.note(0, NoteEvent(0, 60, 90))
    assert pedal.note(0, NoteEvent(10, 60, 0)) == [NoteEvent(10, 60, 0)]
    assert pedal.is_down(1) and not pedal.is_down(0)
