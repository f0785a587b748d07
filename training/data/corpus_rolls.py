"""Piano-roll benchmark files from the music21 corpora and MIDI folders.

Every family is then trained and scored on the same held-out music in the same unit, nats
per frame: the frame families read the rolls directly, the token families through
`roll_tokens`. The pieces are split as the token pipeline splits them (by a hash of the
piece id), so the test pieces are the ones the token column of MODELS.md is scored on.

A roll is binary, on a 16th-note grid (`ROLLS_FRAMES_PER_BEAT`), with the 88 keys of the
BL2012 benchmarks; a note is snapped to the nearest frame boundaries (at least one frame).
Notes outside the piano's range are dropped, and counted. `antiphon prepare --rolls`
writes them as a prepared folder (`data.prepared.write_prepared_rolls`), which
`load_benchmark` opens memory-mapped like a benchmark file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from antiphon.engine.events import NoteEvent
from antiphon.engine.pianoroll import PianoRollCodec, PianoRollCodecConfig
from antiphon.training.data.benchmarks import ROLL_KEYS, ROLL_LOWEST_PITCH, Rolls
from antiphon.training.data.corpus import import_corpus, split_pieces

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


def corpus_rolls(sources: Sequence[str], midi_dirs: Sequence[Path] = (),
                 workers: int | None = None, limit: int | None = None) -> tuple[Rolls, dict]:
    """The corpora's train / valid / test rolls, and a summary (pieces, frames, dropped)."""
    imported = import_corpus(sources, midi_dirs, workers=workers, limit=limit)
    rolls: Rolls = {}
    dropped = 0
    for name, pieces in split_pieces(imported.pieces).items():
        if not pieces:
            raise ValueError(f"the corpus gives no {name} pieces; add more music")
        rolls[name] = []
        for piece in pieces:
            roll, outside = events_roll(piece.events)
            rolls[name].append(roll)
            dropped += outside
    summary = {"pieces": {name: len(split) for name, split in rolls.items()},
               "frames": {name: sum(len(r) for r in split) for name, split in rolls.items()},
               "events_outside_the_keys": dropped}
    return rolls, summary
