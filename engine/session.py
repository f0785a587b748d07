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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.engine.answer_row import AnswerRow
from antiphon.engine.candidates import Candidate, sample_rows
from antiphon.engine.codec import EventCodec, EventCodecConfig, EventEncoder
from antiphon.engine.constraints import MASKED, PitchRules, checked_sampling
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


@dataclass(frozen=True)
class SessionMark:
    """A session as it stood (`Session.mark`), to go back to (`Session.restore`)."""

    state: list
    pending: int
    context: tuple[int, ...]
    tokens_seen: int
    tick: int
    velocity_bin: int | None
    instants: tuple[_Instant, ...]


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
            self._encoder.skip(-(-beyond // TICKS_PER_BEAT) * TICKS_PER_BEAT)

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
        row = self._answer_row(length_ticks, rules, max_opening_rest_ticks)
        self._instants = []
        self._remember_instant(row.sounding)  # the start: rewinding here forgets it all
        try:
            for _ in range(row.max_steps):
                token, state = self._step(temperature, row.bias, top_p)
                if row.ends_before(token):
                    break  # the answer is over; the silence up to its end is added below
                if row.moves_time(token):
                    self._remember_instant(row.sounding)  # this instant is complete
                events = row.take(token)
                self._commit(token, state)
                self._encoder.resume_at(row.tick, row.velocity_bin)
                yield from events
                if row.over:
                    break
            self._remember_instant(row.sounding)
            self.advance_to(row.end_tick)
            releases = row.closing_releases()
            self.observe(releases)
            yield from releases
        finally:
            # Stopped early (the caller closed the generator): tell the model its notes
            # ended where it stopped.
            if row.sounding:
                self.observe([NoteEvent(self.tick, p, 0) for p in sorted(row.sounding)])

    def sample_candidates(
        self, start_tick: int, length_ticks: int, n: int, temperature: float = 1.0,
        max_opening_rest_ticks: int | None = None, rules: PitchRules | None = None,
        top_p: float = 1.0, stop: Callable[[], bool] | None = None,
    ) -> list[Candidate] | None:
        """Sample `n` answers at once, as `generate` samples one (candidates.py), without
        playing any: `adopt` the one to play. Needs a model with batch axes. `stop`, asked
        before each step: True abandons the draw (None is returned; the session stands at
        `start_tick`: `restore` a `mark` taken before to undo that too)."""
        temperature = checked_sampling(length_ticks, temperature, top_p)
        self.advance_to(start_tick)
        rows = [self._answer_row(length_ticks, rules, max_opening_rest_ticks)
                for _ in range(n)]
        return sample_rows(self._model, rows, self._state, self._pending, self._rng,
                           temperature, top_p, stop)

    def mark(self) -> SessionMark:
        """Where the conversation stands now, for `restore` (the random stream excepted:
        what was drawn since stays drawn)."""
        return SessionMark(self._state, self._pending, tuple(self.context), self._tokens_seen,
                           self._encoder.tick, self._encoder.velocity_bin,
                           tuple(self._instants))

    def restore(self, mark: SessionMark) -> None:
        """Go back to `mark`: what the session heard or sampled since is forgotten."""
        self._state, self._pending = mark.state, mark.pending
        self.context.clear()
        self.context.extend(mark.context)
        self._tokens_seen = mark.tokens_seen
        self._encoder.resume_at(mark.tick, mark.velocity_bin)
        self._instants = list(mark.instants)

    def adopt(self, candidate: Candidate) -> None:
        """Take `candidate` (sampled from this session's present by `sample_candidates`)
        as the answer played: the session stands as if `generate` had sampled it."""
        base = self._tokens_seen
        self._instants = [_Instant(i.tick, i.state, i.pending, i.velocity_bin, base + i.kept,
                                   i.sounding) for i in candidate.instants]
        self._state, self._pending = candidate.state, candidate.pending
        self.context.extend(candidate.tokens)
        self._tokens_seen += len(candidate.tokens)
        self._encoder.resume_at(candidate.tick, candidate.velocity_bin)
        self._remember_instant(candidate.sounding)
        self.advance_to(candidate.end_tick)
        self.observe(candidate.releases)

    def _answer_row(self, length_ticks: int, rules: PitchRules | None,
                    max_opening_rest_ticks: int | None) -> AnswerRow:
        """A row for an answer from the session's present (answer_row.py)."""
        return AnswerRow(self.codec, self._bias, rules, self.tick, length_ticks,
                         self._encoder.velocity_bin, max_opening_rest_ticks)

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
        self._encoder.resume_at(instant.tick, instant.velocity_bin)
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
        self._encoder.resume_at(self._encoder.tick, None)
