"""One answer being sampled, token by token: where it is in time, what it sounds, what the
rules allow next, and when it is over.

The session's `generate` keeps one row; best of N (candidates.py) keeps N, stepped as one
batch. Either way the row decides the same things in the same order, so a candidate
answer is exactly an answer `generate` could have sampled:

- a token that would move time past the answer's end is not kept: the answer is over;
- a time shift spends the longest opening rest the answer may wait before its first note
  (constraints.WellFormedAnswer masks a longer one) and ends the answer at its end tick;
- a strike of a pitch that is still sounding releases it first (the MIDI out can then
  never hold two note-ons of one pitch);
- every strike and release updates the rules' view of what sounds (polyphony, no
  release of a silent pitch).
"""

from __future__ import annotations

import numpy as np

from antiphon.engine.codec import EventCodec, EventDecoder
from antiphon.engine.constraints import PitchRules, WellFormedAnswer
from antiphon.engine.events import NoteEvent


class AnswerRow:
    """The bookkeeping of one answer in [start_tick, start_tick + length_ticks]."""

    def __init__(self, codec: EventCodec, base_bias: np.ndarray, rules: PitchRules | None,
                 start_tick: int, length_ticks: int, velocity_bin: int | None,
                 max_opening_rest_ticks: int | None) -> None:
        self.codec = codec
        self.end_tick = start_tick + length_ticks
        # The answer plays at the call's last velocity until the model names another.
        self.decoder = EventDecoder(codec, start_tick, velocity_bin)
        self.velocity_bin = velocity_bin
        self.guard = WellFormedAnswer(codec, base_bias, rules)
        self.rest_left = max_opening_rest_ticks  # None once the first note has sounded
        self.guard.limit_rest(self.rest_left)
        self.over = False  # the answer reached its end
        self.max_steps = 64 * length_ticks + 64  # a model that never advances time still ends

    @property
    def tick(self) -> int:
        """The time the answer has reached."""
        return self.decoder.tick

    @property
    def bias(self) -> np.ndarray:
        """The logit bias of the next step: the rules' masks for what may come next."""
        return self.guard.bias

    @property
    def sounding(self) -> set[int]:
        return self.guard.sounding

    def moves_time(self, token: int) -> bool:
        return self.codec.shift_ticks(token) > 0

    def ends_before(self, token: int) -> bool:
        """Whether `token` would move time past the answer's end (then it is not kept)."""
        return self.decoder.tick + self.codec.shift_ticks(token) > self.end_tick

    def take(self, token: int) -> list[NoteEvent]:
        """Keep `token`: the events it makes (a re-strike's release first); sets `over`
        when time has reached the answer's end."""
        event = self.decoder.feed(token)
        if event is None:
            if (shift := self.codec.shift_ticks(token)) > 0:
                self.guard.time_moved()
                if self.rest_left is not None:
                    self.rest_left -= shift
                    self.guard.limit_rest(self.rest_left)
                # A note struck at the last instant could not sound: the answer is over.
                self.over = self.decoder.tick >= self.end_tick
            elif token >= self.codec.velocity_base:
                self.velocity_bin = token - self.codec.velocity_base
            return []
        events = []
        if event.velocity > 0:
            if self.rest_left is not None:
                self.rest_left = None
                self.guard.limit_rest(None)
            if event.pitch in self.guard.sounding:
                events.append(NoteEvent(event.tick, event.pitch, 0))  # re-strike: release first
            self.guard.note_on(event.pitch)
        else:
            self.guard.note_off(event.pitch)
        events.append(event)
        return events

    def closing_releases(self) -> list[NoteEvent]:
        """Releases, at the answer's end, of what still sounds; afterwards nothing does."""
        releases = [NoteEvent(self.end_tick, pitch, 0) for pitch in sorted(self.guard.sounding)]
        self.guard.sounding.clear()
        return releases
