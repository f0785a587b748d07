"""The sustain pedal (CC 64), as a pianist means it: a key let go while the pedal is down
goes on sounding until the pedal lifts.

So, for the phrase detector and for the model, such a note ends when the pedal comes up,
not when the key does: a phrase played into the pedal does not end while it rings (the
phrase detector's `max_hold_beats` still bounds it, as it bounds every hold), and the
model hears the notes as they sounded. A key struck again while its note still rings
under the pedal ends that note first, as on a piano.

Pure: no threads, no clock. The interaction loop feeds it the player's notes and pedal
changes (`wire.sustain_state`) and passes on the note events it returns. Answers never
send the pedal: the shipped models were not trained with it.
"""

from __future__ import annotations

from antiphon.engine.events import NoteEvent


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

    def is_down(self, channel: int) -> bool:
        return channel in self._down
