"""Piano rolls as event tokens (serialised frames, after Walder 2016): the token families
train and are scored on the piano-roll benchmarks, in nats per frame.

A roll becomes the notes it plays: a key that sounds from frame a up to frame b is one note
(binary rolls have no onsets, so a key held across frames is one note). The notes play at
one velocity on the codec's clock (`TICKS_PER_BEAT // frames_per_beat` ticks a frame) and
go through the same `EventCodec` the engine plays: at each frame boundary the releases,
then the strikes, each in ascending pitch (`sort_events`), then time moves on; a piece ends
with the shifts up to its last frame's end, so trailing silence is encoded too.

Roll -> tokens is one-to-one, so a model's log-probability of a piece's tokens is a
log-probability of its roll: the NLL of all of a piece's tokens divided by its frames is
nats per frame, the quantity the frame models report. It is a conservative figure: what
mass a model puts on other orderings of the same frame is lost, not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from antiphon.engine.codec import EventCodec, EventEncoder
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent, sort_events
from antiphon.engine.pianoroll import DEFAULT_VELOCITY
from antiphon.training.data.rolls import ROLL_LOWEST_PITCH, Rolls
from antiphon.training.data.tokens import TokenSplit


def ticks_per_frame(frames_per_beat: int) -> int:
    if frames_per_beat < 1 or TICKS_PER_BEAT % frames_per_beat:
        raise ValueError(f"{frames_per_beat} frames per beat do not divide the codec's "
                         f"{TICKS_PER_BEAT} ticks per beat")
    return TICKS_PER_BEAT // frames_per_beat


def roll_events(roll: np.ndarray, frame_ticks: int,
                lowest_pitch: int = ROLL_LOWEST_PITCH) -> list[NoteEvent]:
    """The notes of a bool roll [frames, keys], as sorted note-on / note-off events."""
    # Pad a silent frame either side: every run of sounding frames then starts where the
    # padded roll steps up and ends where it steps down.
    padded = np.zeros((len(roll) + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll
    steps = np.diff(padded, axis=0)  # [frames + 1, keys]: +1 strike, -1 release
    frames, keys = np.nonzero(steps)
    events = [NoteEvent(int(frame) * frame_ticks, int(key) + lowest_pitch,
                        DEFAULT_VELOCITY if steps[frame, key] > 0 else 0)
              for frame, key in zip(frames, keys, strict=True)]
    return sort_events(events)


def roll_tokens(roll: np.ndarray, codec: EventCodec, frame_ticks: int) -> np.ndarray:
    """BOS and the tokens of one roll (its whole length, trailing silence included)."""
    encoder = EventEncoder(codec)
    tokens = [codec.bos, *encoder.encode(roll_events(roll, frame_ticks))]
    tokens += encoder.advance_to(len(roll) * frame_ticks)
    return np.array(tokens, dtype=np.int16)


def roll_token_split(rolls: Sequence[np.ndarray], codec: EventCodec,
                     frames_per_beat: int) -> TokenSplit:
    """Every roll's tokens, back to back, as the token families train on them."""
    frame_ticks = ticks_per_frame(frames_per_beat)
    arrays = [roll_tokens(roll, codec, frame_ticks) for roll in rolls]
    starts = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
    tokens = np.concatenate(arrays) if arrays else np.zeros(0, np.int16)
    return TokenSplit(tokens, starts)


def roll_token_splits(rolls: Rolls, codec: EventCodec, frames_per_beat: int
                      ) -> dict[str, TokenSplit]:
    return {name: roll_token_split(split, codec, frames_per_beat)
            for name, split in rolls.items()}


def nll_per_frame(nll_per_token: float, split: TokenSplit, frames: int) -> float:
    """A split's mean NLL per predicted token (every token after each BOS) as NLL per
    frame: the total over the split, over its frames."""
    return nll_per_token * (len(split) - split.pieces) / frames
