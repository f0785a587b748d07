"""The sustain pedal (CC 64), as a pianist means it: a key let go while the pedal is down
goes on sounding until the pedal lifts.

So, for the phrase detector and for the model, such a note ends when the pedal comes up,
not when the key does: a phrase played into the pedal does not end while it rings (the
phrase detector's `max_hold_beats` still bounds it, as it bounds every hold), and the
model hears the notes as they sounded. A key struck again while its note still rings
under the pedal ends that note first, as on a piano.

Keys and the notes the pedal holds are the player's per channel and pitch: a keyboard
split across channels, or two players, may hold the same pitch on two channels at once.
`PlayedNotes` makes one voice per pitch of them for the phrase detector and the model
(whose events carry no channel): the pitch sounds from its first strike on any channel to
the release of the last channel that sounds it, so letting go of it on one channel ends
nothing while another still sounds it; a strike on a second channel is heard as the pitch
struck again (released and struck at once, as the pedal does with a key struck again).

Pure: no threads, no clock. The interaction loop feeds `PlayedNotes` the player's notes
and pedal changes (`wire.sustain_state`) and passes on the note events it returns. Answers
never send the pedal: the shipped models were not trained with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from antiphon.daemon.midi.wire import sustain_state
from antiphon.engine.events import NoteEvent, note_event_from_bytes


class SustainPedal:
    """Per channel: whether the pedal is down, and the notes it holds after their keys
    were let go."""

    def __init__(self) -> None:
        self._down: set[int] = set()  # channels whose pedal is down
        self._ringing: dict[int, list[int]] = {}  # channel -> pitches held by the pedal

    def note(self, channel: int, event: NoteEvent) -> list[NoteEvent]:
        """The note events a played note makes (none for a release the pedal holds)."""
        ringing = self._ringing.get(channel, [])
        if event.velocity == 0:
            if channel in self._down:
                if event.pitch not in ringing:
                    ringing.append(event.pitch)
                    self._ringing[channel] = ringing
                return []
            return [event]
        if event.pitch in ringing:  # struck again while it rings: that note ends first
            ringing.remove(event.pitch)
            return [NoteEvent(event.tick, event.pitch, 0), event]
        return [event]

    def pedal(self, channel: int, down: bool, tick: int) -> list[NoteEvent]:
        """The pedal went down or up; lifting it ends the notes it held."""
        if down:
            self._down.add(channel)
            return []
        self._down.discard(channel)
        return [NoteEvent(tick, pitch, 0) for pitch in self._ringing.pop(channel, [])]

    def forget(self, keep: set[int]) -> None:
        """Forget the notes it holds but those of `keep` (PlayedNotes.keep_only)."""
        for ringing in self._ringing.values():
            ringing[:] = [pitch for pitch in ringing if pitch in keep]

    def is_down(self, channel: int) -> bool:
        return channel in self._down


class PlayedNotes:
    """The player's messages as the notes they sound: each channel's pedal, then one voice
    per pitch across the channels (see the module docstring)."""

    def __init__(self) -> None:
        self.pedal = SustainPedal()
        self._sounding: dict[int, set[int]] = {}  # pitch -> channels (0..15) sounding it

    def hear(self, message: Sequence[int], tick: int) -> list[NoteEvent] | None:
        """The note events a note or pedal message makes at `tick`; None for any other
        message (transport)."""
        channel = message[0] & 0x0F
        event = note_event_from_bytes(message, tick)
        if event is not None:
            events = self.pedal.note(channel, event)
        elif (down := sustain_state(message)) is not None:
            events = self.pedal.pedal(channel, down, tick)
        else:
            return None
        return [merged for each in events for merged in self._voice(channel, each)]

    def sounding(self) -> dict[int, set[int]]:
        """Pitch -> the channels that sound it now (a key held or the pedal holding it)."""
        return {pitch: set(channels) for pitch, channels in self._sounding.items()}

    def keep_only(self, pitches: set[int]) -> None:
        """Forget every pitch but `pitches` (the phrase detector let them go: held past
        max_hold_beats, a note-off lost on the way, or the count restarted): a pitch left
        sounding on a channel whose release never comes would hold every later strike of
        it on another channel for max_hold_beats."""
        for pitch in [pitch for pitch in self._sounding if pitch not in pitches]:
            del self._sounding[pitch]
        self.pedal.forget(pitches)

    def _voice(self, channel: int, event: NoteEvent) -> list[NoteEvent]:
        channels = self._sounding.setdefault(event.pitch, set())
        if event.velocity:
            again = bool(channels)
            channels.add(channel)
            return [NoteEvent(event.tick, event.pitch, 0), event] if again else [event]
        if channel not in channels:  # a key struck before the loop listened: not ours
            if not channels:
                del self._sounding[event.pitch]
            return []
        channels.discard(channel)
        if channels:
            return []  # another channel sounds it on
        del self._sounding[event.pitch]
        return [event]
