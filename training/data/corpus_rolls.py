"""Piano-roll benchmark files from the music21 corpora and MIDI folders.

Every family is then trained and scored on the same held-out music in the same unit, nats
per frame: the frame families read the rolls directly, the token families through
`roll_tokens`. The pieces are split as the token pipeline splits them (by a hash of the
piece id), so the test pieces are the ones the token column of MODELS.md is scored on.

A roll is binary, on a 16th-note grid (`rolls.ROLLS_FRAMES_PER_BEAT`), with the 88 keys of
the BL2012 benchmarks (`rolls.events_roll`); a note is snapped to the nearest frame
boundaries (at least one frame).
Notes outside the piano's range are dropped, and counted. `antiphon prepare --rolls`
writes them as a prepared folder (`data.prepared.write_prepared_rolls`), which
`load_benchmark` opens memory-mapped like a benchmark file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from antiphon.training.data.corpus import import_corpus, split_pieces
from antiphon.training.data.rolls import Rolls, events_roll


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
