"""Engine and Session: a loaded model, and one conversation with it.

A Session holds the model state of one conversation. It reads what the player played
(`observe`) and answers (`generate`) on one continuous timeline of clock ticks: call,
silence, answer, next call. A silence longer than MAX_HEARD_SILENCE_TICKS is heard as that
long: the timeline jumps over the rest in whole beats, so idling costs no model steps.

The answer is well-formed MIDI whatever the model samples: a note struck again while it
sounds is released first, a release of a silent note is dropped, and every note still
sounding at the end of the answer is released there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.engine.codec import EventCodec, EventCodecConfig, EventDecoder, EventEncoder
from antiphon.engine.constraints import MASKED, PitchRules, WellFormedAnswer, checked_sampling
from antiphon.engine.events import MAX_HEARD_SILENCE_TICKS, TICKS_PER_BEAT, NoteEvent
from antiphon.engine.frame_session import FrameSession
from antiphon.engine.model import StepModel

DEFAULT_CONTEXT_TOKENS = 1024


@dataclass(frozen=True)
class _Instant:
    """The session as it stood at the end of one instant of a generated answer."""

    tick: int
    state: list[np.ndarray]  # onnxruntime returns fresh arrays, so keeping them is safe
    pending: int
    velocity_bin: int | None
    tokens_seen: int
    sounding: frozenset[int]


class Engine:
    """A loaded model with its codec; makes sessions."""

    def __init__(self, model: StepModel) -> None:
        card = model.card
        if card.representation != "events":
            raise ValueError(
                f"{model.path}: an Engine plays 'events' models, not "
                f"{card.representation!r} (open_session picks the right session)"
            )
        self.model = model
        self.card = card
        self.codec = EventCodec(EventCodecConfig.from_dict(card.codec))
        if self.codec.vocab_size != card.vocab_size:
            raise ValueError(
                f"{model.path}: the card's vocabulary has {card.vocab_size} tokens but its "
                f"codec config makes {self.codec.vocab_size}"
            )

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Engine:
        return cls(StepModel(path, device=device))

    def new_session(
        self, seed: int | None = None, context_tokens: int = DEFAULT_CONTEXT_TOKENS
    ) -> Session:
        return Session(self, np.random.default_rng(seed), context_tokens)


def open_session(path: str | Path, device: str = "auto",
                 seed: int | None = None) -> Session | FrameSession:
    """Load a model file and start a conversation with it, whatever its representation:
    a token `Session` for event models, a `FrameSession` for piano-roll ones."""
    model = StepModel(path, device=device)
    if model.card.representation == "pianoroll":
        return FrameSession(model, np.random.default_rng(seed))
    return Engine(model).new_session(seed=seed)


class Session:
    """One conversation: model state, a bounded window of recent tokens, and the time."""

    def __init__(self, engine: Engine, rng: np.random.Generator, context_tokens: int) -> None:
        self.engine = engine
        self.codec = engine.codec
        self._model = engine.model
        self._rng = rng
        self._state = self._model.initial_state()
        self._encoder = EventEncoder(self.codec)
        # The newest token is held back until the next step needs it: feeding it is the
        # step that yields the distribution of what follows, so nothing is computed twice.
        self._pending = self.codec.bos
        self.context: deque[int] = deque([self.codec.bos], maxlen=context_tokens)
        self._tokens_seen = 1  # all tokens ever appended to the context
        self._instants: list[_Instant] = []  # of the latest answer, for `rewind`
        vocab = self.codec.vocab_size
        self._uniform = np.empty((1, vocab), dtype=np.float32)
        self._bias = np.zeros(vocab, dtype=np.float32)
        self._bias[self.codec.bos] = MASKED  # BOS starts a sequence; it is never a next token

    @property
    def model(self) -> StepModel:
        """The model this session plays (its card says what it is)."""
        return self._model

    @property
    def tick(self) -> int:
        """The time of the latest event the model has seen or played."""
        return self._encoder.tick

    @property
    def tokens_seen(self) -> int:
        """Tokens fed or sampled since the session began (BOS included)."""
        return self._tokens_seen

    # -- feeding ------------------------------------------------------------------------
    def _step(self, temperature: float, bias: np.ndarray,
              top_p: float = 1.0) -> tuple[int, list[np.ndarray]]:
        """Run the pending token through the model; the caller decides whether to keep it."""
        self._rng.random(dtype=np.float32, out=self._uniform)
        sample, _, state = self._model.step(
            self._pending, self._state, temperature, self._uniform, bias, top_p
        )
        return sample, state

    def _commit(self, token: int, state: list[np.ndarray]) -> None:
        """Keep a step: its state now includes the old pending token; `token` is next."""
        self._state = state
        self._pending = token
        self.context.append(token)
        self._tokens_seen += 1

    def _push(self, token: int) -> None:
        """Feed a token the player (or the clock) produced; the sample is not needed."""
        _, state = self._step(1.0, self._bias)
        self._commit(token, state)

    def observe(self, events: Sequence[NoteEvent]) -> None:
        """Advance the model through what the player played (ticks non-decreasing).

        An event earlier than `self.tick` (the model is ahead: an answer generated ahead of
        the clock) is placed at the model's present. A caller that cuts the answer short
        should `rewind` to the cut first, so that little or nothing is behind.
        """
        present = self.tick
        for event in events:
            if event.tick < present:
                event = NoteEvent(present, event.pitch, event.velocity)
            self._skip_long_silence(event.tick)
            for token in self._encoder.encode([event]):
                self._push(token)
            present = event.tick

    def advance_to(self, tick: int) -> None:
        """Let time pass (a silence) up to `tick`; the model hears at most
        MAX_HEARD_SILENCE_TICKS of it."""
        tick = max(tick, self.tick)
        self._skip_long_silence(tick)
        for token in self._encoder.advance_to(tick):
            self._push(token)

    def _skip_long_silence(self, tick: int) -> None:
        """Jump the session's time, in whole beats and without model steps, over what a
        silence up to `tick` lasts beyond MAX_HEARD_SILENCE_TICKS."""
        beyond = tick - self.tick - MAX_HEARD_SILENCE_TICKS
        if beyond > 0:
            self._encoder.tick += -(-beyond // TICKS_PER_BEAT) * TICKS_PER_BEAT

    # -- answering ----------------------------------------------------------------------
    def generate(
        self,
        start_tick: int,
        length_ticks: int,
        temperature: float = 1.0,
        max_opening_rest_ticks: int | None = None,
        rules: PitchRules | None = None,
        top_p: float = 1.0,
    ) -> Iterator[NoteEvent]:
        """Sample an answer in [start_tick, start_tick + length_ticks], streamed as it comes.

        `max_opening_rest_ticks` bounds the silence before the answer's first note, so a
        model fond of rests cannot make the player wait. `rules` keeps the answer in a
        scale, a pitch range and a polyphony (the player's notes are never constrained).
        `top_p` < 1 samples only among the likeliest tokens holding that much probability
        (after the rules' masks), trimming the unlikely tail that makes a wrong note.
        If the caller stops early, the notes the model thinks are sounding are released in
        its state where it stopped.
        """
        temperature = checked_sampling(length_ticks, temperature, top_p)
        self.advance_to(start_tick)
        end_tick = self.tick + length_ticks
        decoder = EventDecoder(self.codec, self.tick)
        if self._encoder.velocity_bin is not None:
            decoder.velocity = self.codec.bin_velocity(self._encoder.velocity_bin)
        guard = WellFormedAnswer(self.codec, self._bias, rules)
        rest_left = max_opening_rest_ticks  # None once the first note has sounded
        guard.limit_rest(rest_left)
        self._instants = []
        self._remember_instant(guard.sounding)  # the start: rewinding here forgets it all
        max_steps = 64 * length_ticks + 64  # a model that never advances time still ends
        try:
            for _ in range(max_steps):
                token, state = self._step(temperature, guard.bias, top_p)
                shift = self.codec.shift_ticks(token)
                if decoder.tick + shift > end_tick:
                    break  # the answer is over; the silence up to its end is added below
                if shift:
                    self._remember_instant(guard.sounding)  # this instant is complete
                event = decoder.feed(token)
                self._commit(token, state)
                if event is None:
                    if self._follow_control_token(token):
                        guard.time_moved()
                        if rest_left is not None:
                            rest_left -= shift
                            guard.limit_rest(rest_left)
                        if decoder.tick >= end_tick:
                            break  # a note struck at the last instant could not sound
                    continue
                self._encoder.tick = event.tick
                if event.velocity > 0 and rest_left is not None:
                    rest_left = None
                    guard.limit_rest(None)
                if event.velocity > 0:
                    if event.pitch in guard.sounding:
                        yield NoteEvent(event.tick, event.pitch, 0)  # re-strike: release first
                    guard.note_on(event.pitch)
                else:
                    guard.note_off(event.pitch)
                yield event
            self._remember_instant(guard.sounding)
            self.advance_to(end_tick)
            releases = [NoteEvent(end_tick, pitch, 0) for pitch in sorted(guard.sounding)]
            guard.sounding.clear()
            self.observe(releases)
            yield from releases
        finally:
            # Stopped early (the caller closed the generator): tell the model its notes
            # ended where it stopped.
            if guard.sounding:
                self.observe([NoteEvent(self.tick, p, 0) for p in sorted(guard.sounding)])

    def _follow_control_token(self, token: int) -> bool:
        """Keep the encoder's time and velocity in step with a SHIFT or VELOCITY played;
        True when time moved."""
        if (shift := self.codec.shift_ticks(token)) > 0:
            self._encoder.tick += shift
            return True
        if token >= self.codec.velocity_base:
            self._encoder.velocity_bin = token - self.codec.velocity_base
        return False

    def _remember_instant(self, sounding: set[int]) -> None:
        self._instants.append(_Instant(self.tick, self._state, self._pending,
                                       self._encoder.velocity_bin, self._tokens_seen,
                                       frozenset(sounding)))

    def rewind(self, tick: int) -> None:
        """Forget the part of the latest answer after `tick`: the player cut it off there
        (a barge-in), so the model must not go on as if it had been heard.

        Notes of the answer still sounding at `tick` end there. Anything observed since
        the answer (its own closing releases included) is forgotten with it; a tick at or
        past the answer's end changes nothing.
        """
        if not self._instants or tick >= self.tick:
            return
        # The latest instant at or before `tick`; before the answer began: its start.
        instant = self._instants[0]
        for candidate in self._instants:
            if candidate.tick <= tick:
                instant = candidate
        self._state = instant.state
        self._pending = instant.pending
        self._encoder.tick = instant.tick
        self._encoder.velocity_bin = instant.velocity_bin
        for _ in range(min(self._tokens_seen - instant.tokens_seen, len(self.context) - 1)):
            self.context.pop()
        self._tokens_seen = instant.tokens_seen
        self._instants = []
        self.advance_to(tick)
        self.observe([NoteEvent(self.tick, pitch, 0) for pitch in sorted(instant.sounding)])

    def reset(self) -> None:
        """Forget the conversation (model state and context), keeping the time."""
        self._state = self._model.initial_state()
        self._pending = self.codec.bos
        self.context.clear()
        self.context.append(self.codec.bos)
        self._encoder.velocity_bin = None
