"""Call and response, as a pure state machine: no threads, no clock, no I/O.

    IDLE --note-on--> LISTENING --silence after the last release--> RESPONDING
        (or, by PhrasePolicy.phrase_end: so many bars, the pedal lifted, an end control)
    LISTENING --a key held past max_hold_beats without other activity--> RESPONDING
    RESPONDING --answer over--> IDLE
    RESPONDING --player strikes a note (barge-in)--> LISTENING

The interaction loop feeds it the player's notes (`on_event`) and wakes it at the deadline
it asks for (`on_tick` at `next_deadline()`); it answers with actions for the loop to carry
out. Times are beats on the clock's timeline; an event's own time is its tick. A pitch
here is a voice as the loop hears it (pedal.PlayedNotes): held from its first strike on any
channel to the release of the last channel that sounds it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent

GRID_EPSILON = 1e-9  # a time this close to a grid point is on it (float round-off)


class Mode(enum.Enum):
    IDLE = "idle"  # nothing to do until the player strikes a note
    LISTENING = "listening"  # the player is playing a phrase
    RESPONDING = "responding"  # an answer is planned or playing


@dataclass(frozen=True)
class PhrasePolicy:
    """When a call has ended and how long the answer is (all in beats)."""

    silence_beats: float = 1.0  # silence after the last release that ends a phrase
    min_answer_beats: float = 2.0  # shortest answer
    max_answer_beats: float = 16.0  # longest answer
    grid_beats: float = 1.0  # answers start on multiples of this
    max_hold_beats: float = 8.0  # a key held longer no longer holds the phrase open
    # Where the grid starts. True: at the call's first note. The player cannot hear the
    # internal clock, so its beat 0 is arbitrary; the call's first note is the player's own
    # downbeat, and the answer lands in the player's time. False: on the clock's beats, for
    # a clock the player shares (incoming MIDI clock).
    grid_from_call: bool = True
    # What ends a call: "silence" (silence_beats after its last release), "bars" (the end
    # of its phrase_bars-th bar, counted from the bar it began in), "pedal" (the sustain
    # pedal lifted) or "control" (an end-of-call knob or key). Whatever ends it, nothing
    # played for max_hold_beats ends it too: a lost signal cannot wedge the daemon.
    phrase_end: str = "silence"
    phrase_bars: int = 2
    beats_per_bar: float = 4.0


@dataclass(frozen=True)
class Observe:
    """Feed the player's note to the model."""

    event: NoteEvent  # tick on the clock's timeline
    # True for the note that opens a phrase after IDLE: the player's downbeat, where the
    # loop lays the session's beat (PhrasePolicy.grid_from_call). A barge-in's note opens
    # a phrase too, but it answers the answer, on the answer's timeline: False there.
    opens_phrase: bool = False


@dataclass(frozen=True)
class StartAnswer:
    """The call is over: generate an answer of `length_beats` from `start_beats`."""

    start_beats: float  # the first grid point after the phrase end was detected
    length_beats: float  # about the call's length, clamped to the policy
    call_beats: float  # the call, from its first strike to its last release


@dataclass(frozen=True)
class StopAnswer:
    """The player barged in: release the answer's notes and drop the rest of it."""

    at_beats: float  # when the player's note came: the answer was heard up to here


@dataclass(frozen=True)
class AnswerEnded:
    at_beats: float


Action = Observe | StartAnswer | StopAnswer | AnswerEnded


class CallAndResponse:
    """The interaction policy; see the module docstring."""

    def __init__(self, policy: PhrasePolicy) -> None:
        self.policy = policy
        self.mode = Mode.IDLE
        self._held: set[int] = set()  # pitches sounding, on any channel (forgotten when stuck)
        self._phrase_start = 0.0  # beat of the phrase's first strike
        self._last_activity = 0.0  # beat of the phrase's latest strike or release
        self._answer_end = 0.0  # beat the planned answer ends

    def retune(self, policy: PhrasePolicy) -> None:
        """Follow a new policy from now on (a live setting changed); the phrase being
        played keeps its start, so a shorter silence can end it at once."""
        self.policy = policy

    def next_deadline(self) -> float | None:
        """The beat at which `on_tick` has something to do, or None (wait for a note)."""
        if self.mode is Mode.LISTENING:
            policy = self.policy
            if policy.phrase_end == "bars":
                origin = self._phrase_start if policy.grid_from_call else 0.0
                bar = policy.beats_per_bar
                first_bar = origin + math.floor((self._phrase_start - origin) / bar
                                                + GRID_EPSILON) * bar
                return first_bar + policy.phrase_bars * bar
            if policy.phrase_end != "silence":  # the pedal or a control ends it, or this
                return self._last_activity + policy.max_hold_beats
            # Held keys keep the phrase open, but only so long: a note-off that never
            # comes (a stuck key, a lost message) must not keep the daemon from answering.
            wait = policy.max_hold_beats if self._held else policy.silence_beats
            return self._last_activity + wait
        if self.mode is Mode.RESPONDING:
            return self._answer_end
        return None

    def on_event(self, event: NoteEvent, now_beats: float) -> list[Action]:
        """The player struck or released a note at `event.tick` (noticed at `now_beats`)."""
        beat = event.tick / TICKS_PER_BEAT
        actions: list[Action] = []
        if self.mode is Mode.RESPONDING and beat >= self._answer_end:
            # The answer was over before this note came (the loop had not ticked yet). A
            # phrase end is not caught up like this: a note that beats the loop to the
            # deadline continues the phrase, rather than cutting off an answer at birth.
            self.mode = Mode.IDLE
            actions.append(AnswerEnded(self._answer_end))
        opens_phrase = False
        if event.is_note_on:
            if self.mode is Mode.RESPONDING:
                actions.append(StopAnswer(beat))
            opens_phrase = self.mode is Mode.IDLE
            if self.mode is not Mode.LISTENING:
                self.mode = Mode.LISTENING
                self._phrase_start = beat
                self._held.clear()
            self._held.add(event.pitch)
        elif self.mode is Mode.LISTENING and event.pitch in self._held:
            self._held.discard(event.pitch)
        else:
            # A release of a key struck before we listened, or of one held so long it was
            # forgotten: not ours to track.
            return actions
        self._last_activity = beat
        actions.append(Observe(event, opens_phrase))
        return actions

    def on_tick(self, now_beats: float) -> list[Action]:
        """Time has reached `now_beats`: end a phrase or an answer when due."""
        deadline = self.next_deadline()
        if deadline is None or now_beats < deadline:
            return []
        if self.mode is Mode.LISTENING:
            released = self._forget_held_keys(deadline) if self._held else []
            return [*released, self._end_phrase(now_beats)]
        self.mode = Mode.IDLE
        return [AnswerEnded(self._answer_end)]

    def end_phrase_now(self, now_beats: float) -> list[Action]:
        """The pedal lifted or the end-of-call control came: a call being played ends."""
        if self.mode is not Mode.LISTENING:
            return []
        released = self._forget_held_keys(now_beats) if self._held else []
        return [*released, self._end_phrase(now_beats)]

    def expected_answer(self) -> StartAnswer | None:
        """The answer the call being listened to will get if nothing more is played: its
        phrase ends by silence, no key is held, and the silence runs to its deadline. None
        where it could end otherwise (held keys, the pedal, bars, a control)."""
        policy = self.policy
        if self.mode is not Mode.LISTENING or self._held or policy.phrase_end != "silence":
            return None
        call = self._last_activity - self._phrase_start
        origin = self._phrase_start if policy.grid_from_call else 0.0
        start = next_grid_point(self._last_activity + policy.silence_beats, policy.grid_beats,
                                origin)
        return StartAnswer(start, answer_length(call, policy), call)

    def held(self) -> set[int]:
        """The pitches the phrase detector holds as sounding (none once forgotten)."""
        return set(self._held)

    def restart(self) -> None:
        """The beat count jumped (the DAW started over or moved its song position): a call
        or an answer on the old count has no place on the new one. Wait for the player."""
        self.mode = Mode.IDLE
        self._held.clear()

    def drop_answer(self) -> bool:
        """The answer will not play (a MIDI Stop, a panic, the DAW stopped when the call
        ended): back to waiting for the player. A call being played goes on. Returns
        whether there was an answer to drop."""
        if self.mode is not Mode.RESPONDING:
            return False
        self.mode = Mode.IDLE
        return True

    def answer_moved(self, start_beats: float, length_beats: float) -> None:
        """The loop placed the answer elsewhere (pushed to a later grid point when late)."""
        if self.mode is Mode.RESPONDING:
            self._answer_end = start_beats + length_beats

    def _forget_held_keys(self, at_beats: float) -> list[Action]:
        """Keys held past max_hold_beats count as released at `at_beats`, where the phrase
        ends: the model hears them end there (its context would otherwise hold them for
        ever), and their real note-offs, should they come, are ignored."""
        tick = round(at_beats * TICKS_PER_BEAT)
        releases: list[Action] = [Observe(NoteEvent(tick, pitch, 0))
                                  for pitch in sorted(self._held)]
        self._held.clear()
        self._last_activity = at_beats  # the held notes were part of the call until here
        return releases

    def _end_phrase(self, now_beats: float) -> StartAnswer:
        policy = self.policy
        call = self._last_activity - self._phrase_start
        length = answer_length(call, policy)
        origin = self._phrase_start if policy.grid_from_call else 0.0
        start = next_grid_point(now_beats, policy.grid_beats, origin)
        self.mode = Mode.RESPONDING
        self._answer_end = start + length
        return StartAnswer(start, length, call)


def answer_length(call_beats: float, policy: PhrasePolicy) -> float:
    """About as long as the call: rounded to the grid, clamped to the policy's bounds."""
    grid = policy.grid_beats
    rounded = max(grid, math.floor(call_beats / grid + 0.5) * grid)
    return min(max(rounded, policy.min_answer_beats), policy.max_answer_beats)


def next_grid_point(beats: float, grid_beats: float, origin: float = 0.0) -> float:
    """The first grid point (origin + a multiple of `grid_beats`) at or after `beats`."""
    return origin + math.ceil((beats - origin) / grid_beats - GRID_EPSILON) * grid_beats
