"""A conversation with a piano-roll model: what the player plays, heard frame by frame,
and answers sampled a frame at a time (each key a Bernoulli draw, inside the graph).

The player's notes are gathered into the frame they sound in (a key counts as sounding in
a frame if it sounded at any moment of it), on the model's grid (`frames_per_beat`). As in
the token `Session`, the newest closed frame waits (`_pending`) until a step needs it: the
step that feeds it is the one that yields the distribution of the frame after it, so an
answer starts from the listening state without computing anything twice.

The frames a piano-roll model reads say only which keys sound, so an answer's notes are
the runs of a key's sounding frames: a key that sounds in consecutive frames is held.
Every note-on an answer yields gets its note-off at the answer's end at the latest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from antiphon.engine.constraints import MASKED, PitchRules, checked_sampling
from antiphon.engine.events import MAX_HEARD_SILENCE_TICKS, TICKS_PER_BEAT, NoteEvent
from antiphon.engine.model import StepModel
from antiphon.engine.pianoroll import (
    DEFAULT_VELOCITY,
    HELD,
    PianoRollCodec,
    PianoRollCodecConfig,
    PianoRollDecoder,
)


@dataclass(frozen=True)
class _FrameInstant:
    """The session at the start of one answer frame, for `rewind`."""

    start: int  # tick where the frame starts
    state: list
    pending: np.ndarray  # [1, K]: the frame before it (fed at the next step)
    played: np.ndarray  # [K] bool: the keys the answer sounds in this frame


class FrameSession:
    """One conversation with a piano-roll step graph; see the module docstring."""

    def __init__(self, model: StepModel, rng: np.random.Generator) -> None:
        card = model.card
        if card.representation != "pianoroll":
            raise ValueError(f"{model.path}: a FrameSession plays piano-roll models, not "
                             f"{card.representation!r}")
        self._model = model
        self.codec = PianoRollCodec(PianoRollCodecConfig.from_dict(card.codec))
        config = self.codec.config
        if card.vocab_size != config.keys:
            raise ValueError(f"{model.path}: the card has {card.vocab_size} keys but its codec "
                             f"{config.keys}")
        self._rng = rng
        self._ticks_per_frame = config.ticks_per_frame
        keys = config.keys
        self._state = model.initial_state()
        self._pending = np.zeros((1, keys), dtype=np.float32)  # silence before the start
        self._frame_start = 0  # tick where the frame being heard started
        self._heard = np.zeros(keys, dtype=bool)  # keys sounding at any time in that frame
        self._held = np.zeros(keys, dtype=bool)  # keys the player holds now
        self._tick = 0
        self._uniform = np.empty((1, keys), dtype=np.float32)
        self._no_bias = np.zeros(keys, dtype=np.float32)
        self._instants: list[_FrameInstant] = []
        self.frames_seen = 0  # frames fed to the model since the session began
        # Frames carry no dynamics, so the answer plays at the call's loudness: the mean
        # velocity of the strikes heard since the last answer (a soft call, a soft answer).
        self._strikes = self._strike_velocities = 0
        self.velocity = DEFAULT_VELOCITY  # what the next answer plays at

    @property
    def model(self) -> StepModel:
        """The model this session plays (its card says what it is)."""
        return self._model

    @property
    def tick(self) -> int:
        return self._tick

    # -- listening ----------------------------------------------------------------------
    def _step(self, temperature: float, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed the pending frame; returns (the next frame drawn [K], its logits [K])."""
        self._rng.random(dtype=np.float32, out=self._uniform)
        sample, logits, self._state = self._model.step_frame(
            self._pending, self._state, temperature, self._uniform, bias)
        self.frames_seen += 1
        return sample[0] > 0.5, logits[0]

    def _close_frames_until(self, tick: int) -> None:
        """Close every frame that ends at or before `tick`: each waits as `_pending`, and
        the one it replaces is fed (its sample unused: the player, not the model, plays).

        Past the frame being heard, at most MAX_HEARD_SILENCE_TICKS of frames are fed: the
        frame grid jumps over the rest in whole beats, without model steps."""
        while self._frame_start + self._ticks_per_frame <= tick:
            self._step(1.0, self._no_bias)
            self._pending = self._heard.astype(np.float32)[None, :]
            self._heard = self._held.copy()
            self._frame_start += self._ticks_per_frame
            beyond = tick - self._frame_start - MAX_HEARD_SILENCE_TICKS
            if beyond > 0:
                self._frame_start += -(-beyond // TICKS_PER_BEAT) * TICKS_PER_BEAT

    def observe(self, events: Sequence[NoteEvent]) -> None:
        """Hear the player's notes (ticks non-decreasing; earlier ones count as now).
        Pitches outside the model's keys are not heard: it has no column for them."""
        lowest, keys = self.codec.config.lowest_pitch, self.codec.config.keys
        for event in events:
            tick = max(event.tick, self._tick)
            self._close_frames_until(tick)
            self._tick = tick
            key = event.pitch - lowest
            if not 0 <= key < keys:
                continue
            if event.velocity > 0:
                self._held[key] = self._heard[key] = True
                self._strikes += 1
                self._strike_velocities += event.velocity
            else:
                self._held[key] = False

    def advance_to(self, tick: int) -> None:
        self._close_frames_until(tick)
        self._tick = max(self._tick, tick)

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
        """Sample an answer of whole frames from the first frame boundary at or after
        `start_tick`, for `length_ticks` (at least one frame), streamed frame by frame.

        `rules` keep the answer's keys in a scale and range (masked inside the graph) and
        its polyphony under a limit (the model's likeliest keys are kept). If the opening
        rest would run past `max_opening_rest_ticks`, the frame that would break it plays
        the model's likeliest allowed key. `top_p` is accepted for the interface's sake: a
        Bernoulli draw per key has no nucleus to cut.
        """
        temperature = checked_sampling(length_ticks, temperature, top_p)
        tpf = self._ticks_per_frame
        begin = max(start_tick, self._tick)
        first = -(-begin // tpf) * tpf  # the first frame boundary at or after it
        self._close_frames_until(first)  # also closes the frame ending at `first`
        frames = max(1, length_ticks // tpf)
        bias = self._bias_for(rules)
        if self._strikes:  # none (an answer answering an answer): as loud as the last
            self.velocity = round(self._strike_velocities / self._strikes)
            self._strikes = self._strike_velocities = 0
        decoder = PianoRollDecoder(self.codec, first, self.velocity)
        rest_left = max_opening_rest_ticks
        self._instants = []
        for index in range(frames):
            start = first + index * tpf
            state_before, pending_before = self._state, self._pending
            played, logits = self._step(temperature, bias)
            played = self._limit_polyphony(played, logits, rules, decoder.sounding)
            if rest_left is not None:
                if not played.any() and rest_left < tpf:
                    played = self._likeliest_allowed(logits, bias)
                if played.any():
                    rest_left = None
                else:
                    rest_left -= tpf
            self._instants.append(_FrameInstant(start, state_before, pending_before, played))
            self._pending = played.astype(np.float32)[None, :]
            self._frame_start, self._tick = start + tpf, start
            self._heard = np.zeros_like(self._heard)
            # HELD, not STRUCK: a key sounding in consecutive frames is one held note.
            yield from decoder.feed(np.where(played, HELD, 0).astype(np.uint8))
        self._tick = first + frames * tpf
        yield from decoder.finish()

    def _bias_for(self, rules: PitchRules | None) -> np.ndarray:
        if rules is None:
            return self._no_bias
        lowest = self.codec.config.lowest_pitch
        pitches = lowest + np.arange(self.codec.config.keys)
        allowed = ((pitches >= rules.lowest) & (pitches <= rules.highest)
                   & np.isin(pitches % 12, sorted(rules.pitch_classes)))
        return np.where(allowed, 0.0, MASKED).astype(np.float32)

    @staticmethod
    def _limit_polyphony(played: np.ndarray, logits: np.ndarray, rules: PitchRules | None,
                         sounding: np.ndarray) -> np.ndarray:
        limit = None if rules is None else rules.max_polyphony
        if limit is None or played.sum() <= limit:
            return played
        # Keep held notes first (no needless re-attacks), then the model's likeliest keys.
        order = np.lexsort((-logits, ~(played & sounding)))
        kept = np.zeros_like(played)
        kept[[key for key in order if played[key]][:limit]] = True
        return kept

    @staticmethod
    def _likeliest_allowed(logits: np.ndarray, bias: np.ndarray) -> np.ndarray:
        forced = np.zeros(logits.shape, dtype=bool)
        forced[int(np.argmax(logits + bias))] = True
        return forced

    def rewind(self, tick: int) -> None:
        """Forget the latest answer after `tick` (a barge-in): the model continues as if
        the answer had stopped there, its frame at the cut sounding up to the cut."""
        if not self._instants or tick >= self._tick:
            return
        instant = self._instants[0]
        for candidate in self._instants:
            if candidate.start <= tick:
                instant = candidate
        self._state, self._pending = instant.state, instant.pending
        self._frame_start = instant.start
        self._heard = instant.played.copy() if tick > instant.start else np.zeros_like(
            instant.played)
        self._tick = max(instant.start, min(tick, self._tick))
        self._instants = []
        self.advance_to(tick)

    def reset(self) -> None:
        self._state = self._model.initial_state()
        self._pending = np.zeros_like(self._pending)
        self._heard[:] = False
        self._instants = []
