"""Pieces as token arrays, training windows, and transposition in token space.

A split is one flat int16 array of tokens (every piece starts with BOS) plus the offsets
where pieces start: compact, fast to slice, and cheap to memory-map later. Transposing a
window is adding a constant to its NOTE_ON / NOTE_OFF tokens, so augmentation costs a
vectorised add instead of re-encoding the corpus every epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from antiphon.engine.codec import PITCHES, EventCodec
from antiphon.engine.events import NoteEvent


@dataclass
class TokenSplit:
    tokens: np.ndarray  # int16 [N]: all pieces back to back, each starting with BOS
    starts: np.ndarray  # int64 [pieces + 1]: piece i is tokens[starts[i]:starts[i + 1]]

    @property
    def pieces(self) -> int:
        return len(self.starts) - 1

    def piece(self, index: int) -> np.ndarray:
        return self.tokens[self.starts[index] : self.starts[index + 1]]

    def __len__(self) -> int:
        return len(self.tokens)


def encode_pieces(pieces: Sequence[Sequence[NoteEvent]], codec: EventCodec) -> TokenSplit:
    """Tokens for each piece (time counted from the piece's first event)."""
    arrays = []
    for events in pieces:
        first = events[0].tick if events else 0
        arrays.append(np.array([codec.bos, *codec.encode(events, start_tick=first)], np.int16))
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    tokens = np.concatenate(arrays) if arrays else np.zeros(0, np.int16)
    return TokenSplit(tokens, starts)


def pitch_token_mask(codec: EventCodec, tokens: np.ndarray) -> np.ndarray:
    """True where a token is a NOTE_ON or NOTE_OFF."""
    return (tokens >= codec.note_on_base) & (tokens < codec.note_off_base + PITCHES)


def transpose_windows(
    codec: EventCodec, windows: np.ndarray, semitones: np.ndarray
) -> np.ndarray:
    """Shift each window's pitches [B, T] by semitones [B]; a window that would leave
    0..127 is left as it is."""
    is_pitch = pitch_token_mask(codec, windows)
    is_off = windows >= codec.note_off_base
    pitch = np.where(is_off, windows - codec.note_off_base, windows - codec.note_on_base)
    pitch = np.where(is_pitch, pitch, 64)  # neutral value where there is no pitch
    low, high = pitch.min(axis=1), pitch.max(axis=1)
    fits = (low + semitones >= 0) & (high + semitones < PITCHES)
    shift = np.where(fits, semitones, 0)[:, None]
    return np.where(is_pitch, windows + shift, windows).astype(windows.dtype)


def sample_windows(
    split: TokenSplit,
    batch: int,
    length: int,
    rng: np.random.Generator,
    codec: EventCodec,
    transpose: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """A batch [B, length + 1] of random windows (inputs are [:, :-1], targets [:, 1:])."""
    if len(split) <= length + 1:
        raise ValueError(f"split has {len(split)} tokens, too few for windows of {length}")
    starts = rng.integers(0, len(split) - length - 1, size=batch)
    windows = split.tokens[starts[:, None] + np.arange(length + 1)].astype(np.int64)
    low, high = transpose
    if (low, high) != (0, 0):
        windows = transpose_windows(codec, windows, rng.integers(low, high + 1, size=batch))
    return windows


def padded_pieces(split: TokenSplit, order: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Pieces `order` as a right-padded batch [B, T] with a mask of real tokens."""
    lengths = [split.starts[i + 1] - split.starts[i] for i in order]
    width = max(lengths)
    batch = np.zeros((len(order), width), dtype=np.int64)
    mask = np.zeros((len(order), width), dtype=bool)
    for row, (index, n) in enumerate(zip(order, lengths, strict=True)):
        batch[row, :n] = split.piece(index)
        mask[row, :n] = True
    return batch, mask
