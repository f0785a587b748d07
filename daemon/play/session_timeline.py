"""Where the interaction loop's two timelines meet.

The clock's (beats since the daemon started; the scheduler and the state machine live on
it) and the session's (one continuous conversation in ticks: call, silence, answer, next
call). They differ by `offset_ticks`:

    session tick = clock tick + offset

The session's beats are where the model hears the beat, and where a piano-roll model lays
its frames. With the grid taken from the call (`PhrasePolicy.grid_from_call`, the default:
the player cannot hear the internal clock, whose beat 0 is the daemon's start), the first
note of each phrase after a silence re-anchors the offset so that this note, the player's
downbeat, falls on a session beat: the nearest one, or the first one at or after the
session's present should that be later (the session never goes back). With a clock the
player shares (`grid_from_call=False`), the offset stays a whole number of beats, so the
session's beats are the clock's.

The offset also changes when a late answer is pushed to a later grid point: the model
planned it on time, so the clock moves away from the session (offset shrinks). A barge-in
cuts an answer the model has already generated to its end; the session is rewound to the
moment the player came in (the model forgets what nobody heard), and the offset stays.
"""

from __future__ import annotations

from antiphon.engine.events import TICKS_PER_BEAT


class SessionTimeline:
    """The offset between the clock's ticks and the session's; see the module docstring.
    Pure: the loop passes the session's present (`session_now`, its tick)."""

    def __init__(self) -> None:
        self.offset_ticks = 0

    def session_tick(self, clock_tick: int, session_now: int) -> int:
        """The session tick for a clock tick. Should the session already be past it (an
        event older than the answer it follows), the offset moves on by whole beats, so
        the player's notes keep their beat phase rather than pile up on one tick."""
        tick = clock_tick + self.offset_ticks
        behind = session_now - tick
        if behind > 0:
            beats = -(-behind // TICKS_PER_BEAT)
            self.offset_ticks += beats * TICKS_PER_BEAT
            tick += beats * TICKS_PER_BEAT
        return tick

    def anchor_beat_on(self, clock_tick: int, session_now: int) -> None:
        """Move the offset so that `clock_tick` falls on a session beat: the nearest to
        where the offset put it, or the first at or after the session's present."""
        heard = clock_tick + self.offset_ticks
        beat = (heard + TICKS_PER_BEAT // 2) // TICKS_PER_BEAT * TICKS_PER_BEAT
        if beat < session_now:
            beat = -(-session_now // TICKS_PER_BEAT) * TICKS_PER_BEAT
        self.offset_ticks = beat - clock_tick

    def keep_to_clock_beats(self) -> None:
        """The grid became the band's (--clock auto took up a MIDI clock): the session's
        beats become the clock's, forwards, as the session never goes back."""
        self.offset_ticks += -self.offset_ticks % TICKS_PER_BEAT

    def clock_beats(self, session_tick: int) -> float:
        """Where a session tick falls on the clock, in beats."""
        return (session_tick - self.offset_ticks) / TICKS_PER_BEAT

    def moved(self, push_ticks: int) -> None:
        """The answer was pushed `push_ticks` later on the clock than the session planned."""
        self.offset_ticks -= push_ticks
