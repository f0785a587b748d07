"""The events representation: note events <-> model tokens.

Vocabulary (in this order, so a token id says its kind by range):

    BOS                          start of a sequence (the model's first input)
    NOTE_ON(p)    p = 0..127     strike pitch p at the current velocity
    NOTE_OFF(p)   p = 0..127     release pitch p
    SHIFT(n)      n = 1..max     advance time by n clock ticks (24 per beat)
    VELOCITY(b)   b = 0..bins-1  set the velocity for the note-ons that follow

Longer silences are chained shifts. A velocity token is written only when the velocity bin
changes, as in Performance RNN. The round trip events -> tokens -> events is lossless for
events whose velocities lie on the bin grid (`EventCodec.quantize_velocity`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.json_config import JsonConfig

REPRESENTATION = "events"
REPRESENTATION_VERSION = 1
PITCHES = 128


@dataclass(frozen=True)
class EventCodecConfig(JsonConfig):
    """The versioned configuration that fixes the vocabulary."""

    config_name = "events codec"

    version: int = REPRESENTATION_VERSION  # bump when the token layout changes
    ticks_per_beat: int = TICKS_PER_BEAT  # time resolution of SHIFT tokens
    max_shift_ticks: int = 48  # longest single SHIFT (two beats); longer gaps are chained
    velocity_bins: int = 16  # MIDI velocities 1..127 fall into this many bins

    def __post_init__(self) -> None:
        if self.version != REPRESENTATION_VERSION:
            raise ValueError(
                f"events codec version {self.version} is not supported "
                f"(this Antiphon reads version {REPRESENTATION_VERSION})"
            )
        if self.ticks_per_beat != TICKS_PER_BEAT:
            raise ValueError(f"ticks_per_beat must be {TICKS_PER_BEAT}, got {self.ticks_per_beat}")
        if not 1 <= self.max_shift_ticks <= 10 * TICKS_PER_BEAT:
            raise ValueError(f"max_shift_ticks must be 1..240, got {self.max_shift_ticks}")
        if not 1 <= self.velocity_bins <= 127:
            raise ValueError(f"velocity_bins must be 1..127, got {self.velocity_bins}")


class EventCodec:
    """Encodes note events as tokens and decodes them back."""

    def __init__(self, config: EventCodecConfig | None = None) -> None:
        self.config = config or EventCodecConfig()
        self.bos = 0
        self.note_on_base = 1
        self.note_off_base = self.note_on_base + PITCHES
        self.shift_base = self.note_off_base + PITCHES  # SHIFT(n) = shift_base + n - 1
        self.velocity_base = self.shift_base + self.config.max_shift_ticks
        self.vocab_size = self.velocity_base + self.config.velocity_bins

    # -- velocity bins ------------------------------------------------------------------
    def velocity_bin(self, velocity: int) -> int:
        """The bin of a MIDI velocity 1..127."""
        return (velocity - 1) * self.config.velocity_bins // 127

    def bin_velocity(self, velocity_bin: int) -> int:
        """The velocity a bin plays back as: the middle of the bin's range."""
        bins = self.config.velocity_bins
        low = -(-velocity_bin * 127 // bins) + 1  # smallest v with velocity_bin(v) == bin
        high = -(-(velocity_bin + 1) * 127 // bins)  # largest such v
        return (low + high) // 2

    def quantize_velocity(self, velocity: int) -> int:
        """The velocity after a round trip through the codec (0 stays 0)."""
        return 0 if velocity == 0 else self.bin_velocity(self.velocity_bin(velocity))

    # -- encoding -----------------------------------------------------------------------
    def shift_tokens(self, ticks: int) -> list[int]:
        """Tokens that advance time by `ticks` (none for zero)."""
        if ticks < 0:
            raise ValueError(f"events must not go back in time (shift of {ticks} ticks)")
        longest = self.config.max_shift_ticks
        tokens = [self.shift_base + longest - 1] * (ticks // longest)
        if ticks % longest:
            tokens.append(self.shift_base + ticks % longest - 1)
        return tokens

    def encode(
        self, events: Iterable[NoteEvent], start_tick: int = 0, velocity_bin: int | None = None
    ) -> list[int]:
        """Tokens for `events` (in time order), with time counted from `start_tick`.

        `velocity_bin` is the bin already in force (None: the first note-on sets one), so a
        stream can be encoded in pieces without repeating velocity tokens.
        """
        return list(EventEncoder(self, start_tick, velocity_bin).encode(events))

    def decode(self, tokens: Iterable[int], start_tick: int = 0) -> list[NoteEvent]:
        """Note events for `tokens`; BOS is skipped."""
        decoder = EventDecoder(self, start_tick)
        return [event for token in tokens if (event := decoder.feed(token)) is not None]

    # -- token kinds (used by the decoder and by samplers that mask) ----------------------
    def token_name(self, token: int) -> str:
        if token == self.bos:
            return "BOS"
        if token < self.note_off_base:
            return f"NOTE_ON_{token - self.note_on_base}"
        if token < self.shift_base:
            return f"NOTE_OFF_{token - self.note_off_base}"
        if token < self.velocity_base:
            return f"SHIFT_{token - self.shift_base + 1}"
        if token < self.vocab_size:
            return f"VELOCITY_{token - self.velocity_base}"
        raise ValueError(f"token {token} is outside the vocabulary of {self.vocab_size}")

    def vocabulary(self) -> list[str]:
        return [self.token_name(token) for token in range(self.vocab_size)]

    def shift_ticks(self, token: int) -> int:
        """Ticks a token advances time by (0 for every non-SHIFT token)."""
        if self.shift_base <= token < self.velocity_base:
            return token - self.shift_base + 1
        return 0


class EventEncoder:
    """Streaming encoder: keeps the time and velocity in force between calls."""

    def __init__(self, codec: EventCodec, tick: int = 0, velocity_bin: int | None = None) -> None:
        self.codec = codec
        self.tick = tick
        self.velocity_bin = velocity_bin

    def encode(self, events: Iterable[NoteEvent]) -> Iterator[int]:
        codec = self.codec
        for event in events:
            yield from codec.shift_tokens(event.tick - self.tick)
            self.tick = event.tick
            if event.velocity == 0:
                yield codec.note_off_base + event.pitch
                continue
            velocity_bin = codec.velocity_bin(event.velocity)
            if velocity_bin != self.velocity_bin:
                self.velocity_bin = velocity_bin
                yield codec.velocity_base + velocity_bin
            yield codec.note_on_base + event.pitch

    def advance_to(self, tick: int) -> list[int]:
        """SHIFT tokens that bring the stream to `tick` (e.g. across a silence)."""
        tokens = self.codec.shift_tokens(tick - self.tick)
        self.tick = tick
        return tokens

    def resume_at(self, tick: int, velocity_bin: int | None) -> None:
        """Stand where a stream stood (a mark, the end of an answer sampled apart): its
        time and the velocity in force there (None: the next note names its own)."""
        self.tick, self.velocity_bin = tick, velocity_bin

    def skip(self, ticks: int) -> None:
        """Move the time on by `ticks` without tokens (a silence the model never hears)."""
        self.tick += ticks


class EventDecoder:
    """Streaming decoder: turns one token at a time into note events."""

    DEFAULT_VELOCITY_BIN = 9  # mezzo-forte-ish until the model names a velocity

    def __init__(self, codec: EventCodec, tick: int = 0, velocity_bin: int | None = None) -> None:
        """`velocity_bin`: the velocity in force when the stream begins (None: the default
        until the model names one)."""
        self.codec = codec
        self.tick = tick
        if velocity_bin is None:
            velocity_bin = min(self.DEFAULT_VELOCITY_BIN, codec.config.velocity_bins - 1)
        self.velocity = codec.bin_velocity(velocity_bin)

    def feed(self, token: int) -> NoteEvent | None:
        """The event `token` stands for, or None for BOS / SHIFT / VELOCITY tokens."""
        codec = self.codec
        if not 0 <= token < codec.vocab_size:
            raise ValueError(f"token {token} is outside the vocabulary of {codec.vocab_size}")
        if token == codec.bos:
            return None
        if token < codec.note_off_base:
            return NoteEvent(self.tick, token - codec.note_on_base, self.velocity)
        if token < codec.shift_base:
            return NoteEvent(self.tick, token - codec.note_off_base, 0)
        if token < codec.velocity_base:
            self.tick += token - codec.shift_base + 1
            return None
        self.velocity = codec.bin_velocity(token - codec.velocity_base)
        return None
