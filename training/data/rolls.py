"""The piano-roll form every roll source shares: the BL2012 benchmarks (`benchmarks.py`),
rolls made from the corpora (`corpus_rolls.py`) and prepared folders of rolls
(`prepared.py`).

A roll is bool [frames, 88], column 0 = MIDI 21 (A0); a benchmark is its train / valid /
test splits of rolls. Rolls made here are on a 16th-note grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from antiphon.engine.events import NoteEvent
from antiphon.engine.pianoroll import PianoRollCodec, PianoRollCodecConfig

SPLITS = ("train", "valid", "test")
ROLL_LOWEST_PITCH = 21  # MIDI pitch of column 0 of a benchmark roll (A0)
ROLL_KEYS = 88

Rolls = dict[str, list[np.ndarray]]  # split name -> pieces, each bool [frames, 88]

ROLLS_FRAMES_PER_BEAT = 4
ROLL_CODEC = PianoRollCodec(PianoRollCodecConfig(
    lowest_pitch=ROLL_LOWEST_PITCH, keys=ROLL_KEYS, frames_per_beat=ROLLS_FRAMES_PER_BEAT,
    distinguish_onsets=False))


def events_roll(events: Sequence[NoteEvent]) -> tuple[np.ndarray, int]:
    """A piece's roll bool [frames, 88] from its first event, and how many of its note
    events lay outside the 88 keys (dropped)."""
    config = ROLL_CODEC.config
    kept = [e for e in events if config.lowest_pitch <= e.pitch <= config.highest_pitch]
    start = events[0].tick if events else 0
    end = max((e.tick for e in events), default=start)
    return ROLL_CODEC.encode(kept, start_tick=start, end_tick=end) > 0, len(events) - len(kept)


def transpose_rolls(rolls: Sequence[np.ndarray], semitones: np.ndarray) -> list[np.ndarray]:
    """Each roll [T, K] shifted up by its semitones; a shift that would push a sounding key
    off the keyboard is not applied (that roll comes back as it is)."""
    shifted = []
    for roll, shift in zip(rolls, semitones, strict=True):
        sounding = np.flatnonzero(roll.any(axis=0))
        keys = roll.shape[1]
        if shift == 0 or not sounding.size or not (
            0 <= sounding[0] + shift and sounding[-1] + shift < keys
        ):
            shifted.append(roll)
            continue
        shifted.append(np.roll(roll, int(shift), axis=1))  # the wrapped columns are silent
    return shifted
