"""`antiphon prepare`: a folder of MIDI files to memory-mapped token arrays (or piano
rolls), on every core.

For a corpus too big to hold as Python objects (100k files is tens of millions of
events), nothing here keeps more than one batch of files' tokens in memory: worker
processes each read and encode a batch (`--workers`), and the parent appends each file's
tokens to the file of its split as the batches come back. The result is a folder

    train.tokens.npy  valid.tokens.npy  test.tokens.npy   int16, every piece after a BOS
    train.starts.npy  valid.starts.npy  test.starts.npy   int64 offsets (pieces + 1)
    prepared.json                                          codec, counts, skipped files

that `load_prepared` opens with `mmap_mode="r"`: training reads the windows it samples
from disk through the page cache, so RAM holds what is being used, not the corpus.
Splits are by a hash of the piece id (`corpus.split_of`), as everywhere else; a file
whose events equal an earlier file's is skipped (by a hash of its tokens).

With `--rolls` the folder holds piano rolls instead of tokens: `<split>.rolls.npy`, bool
[frames, 88] on a 16th-note grid (`rolls.events_roll`), read the same way by
`load_prepared_rolls` (and so by `load_benchmark`, for `train-frames` and `eval`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from antiphon.engine.codec import EventCodec
from antiphon.engine.events import NoteEvent
from antiphon.training.data.corpus import split_of
from antiphon.training.data.midi_folder import find_midi_files, read_midi_task
from antiphon.training.data.rolls import (
    ROLL_KEYS,
    ROLL_LOWEST_PITCH,
    ROLLS_FRAMES_PER_BEAT,
    SPLITS,
    Rolls,
    events_roll,
)
from antiphon.training.data.tokens import TokenSplit
from antiphon.training.data.workers import map_in_workers

log = logging.getLogger(__name__)

PREPARED_FORMAT = "antiphon-prepared-tokens-v1"
PREPARED_ROLLS_FORMAT = "antiphon-prepared-rolls-v1"


def encode_file_task(path: Path) -> tuple[np.ndarray | None, str]:
    """Runs in a worker: a file's tokens int16 (BOS first), or None and why it was skipped."""
    events, reason = read_midi_task(path)
    if events is None:
        return None, reason
    codec = EventCodec()
    notes = [NoteEvent(int(t), int(p), int(v)) for t, p, v in events]
    first = notes[0].tick
    return np.array([codec.bos, *codec.encode(notes, start_tick=first)], np.int16), ""


class _SplitWriter:
    """Appends pieces to `<split>.<kind>.npy` (raw rows, then given its header at close)."""

    def __init__(self, folder: Path, split: str, kind: str = "tokens", dtype: str = "<i2",
                 row: tuple[int, ...] = ()) -> None:
        self.folder, self.split, self.kind = folder, split, kind
        self.dtype, self.row = np.dtype(dtype), row  # row: the shape of one time step
        self.raw = open(folder / f"{split}.{kind}.raw", "wb")  # noqa: SIM115 (closed in close)
        self.starts = [0]

    def append(self, rows: np.ndarray) -> None:
        self.raw.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.starts.append(self.starts[-1] + len(rows))

    def close(self) -> None:
        """Write the .npy: its header (now that the length is known), then the raw rows,
        copied file to file in blocks."""
        self.raw.close()
        raw_path = self.folder / f"{self.split}.{self.kind}.raw"
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.starts[-1], *self.row)}
        with open(self.folder / f"{self.split}.{self.kind}.npy", "wb") as out, \
                open(raw_path, "rb") as raw:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, length=1 << 24)
        raw_path.unlink()
        np.save(self.folder / f"{self.split}.starts.npy", np.array(self.starts, np.int64))


def roll_file_task(path: Path) -> tuple[np.ndarray | None, str]:
    """Runs in a worker: a file's piano roll bool [frames, 88] (`rolls.events_roll`),
    or None and why it was skipped."""
    events, reason = read_midi_task(path)
    if events is None:
        return None, reason
    roll, _ = events_roll([NoteEvent(int(t), int(p), int(v)) for t, p, v in events])
    return (roll, "") if roll.any() else (None, "no notes on the 88 keys")


def prepare_midi_folder(folder: Path, out: Path, workers: int | None = None,
                        batch_files: int = 512, rolls: bool = False) -> dict:
    """Tokenise every MIDI file under `folder` into `out` (or, with `rolls`, write its
    piano rolls); returns what prepared.json says."""
    out.mkdir(parents=True, exist_ok=True)
    paths = find_midi_files(folder)
    writers = {split: _SplitWriter(out, split, "rolls", "|b1", (ROLL_KEYS,)) if rolls
               else _SplitWriter(out, split) for split in SPLITS}
    task = roll_file_task if rolls else encode_file_task
    seen: set[bytes] = set()
    skipped: dict[str, str] = {}
    duplicates = 0
    try:
        for first in range(0, len(paths), batch_files):
            batch = paths[first:first + batch_files]
            for path, (rows, reason) in zip(batch, map_in_workers(task, batch, workers),
                                            strict=True):
                piece_id = f"{folder.name}/{path.relative_to(folder).as_posix()}"
                if rows is None:
                    skipped[piece_id] = reason
                    continue
                digest = hashlib.blake2b(rows.tobytes(), digest_size=16).digest()
                if digest in seen:
                    duplicates += 1
                    continue
                seen.add(digest)
                writers[split_of(piece_id)].append(rows)
            log.info("prepared %d of %d files", min(first + batch_files, len(paths)),
                     len(paths))
    finally:
        for writer in writers.values():
            writer.close()
    summary = {
        **(_rolls_format() if rolls else {"format": PREPARED_FORMAT,
                                          "codec": asdict(EventCodec().config)}),
        "source": f"midi:{folder.name}",
        "pieces": {s: len(w.starts) - 1 for s, w in writers.items()},
        ("frames" if rolls else "tokens"): {s: w.starts[-1] for s, w in writers.items()},
        "files": len(paths), "duplicates": duplicates, "skipped": skipped,
    }
    (out / "prepared.json").write_text(json.dumps(summary, indent=1))
    return summary


def _rolls_format() -> dict:
    return {"format": PREPARED_ROLLS_FORMAT, "frames_per_beat": ROLLS_FRAMES_PER_BEAT,
            "lowest_pitch": ROLL_LOWEST_PITCH, "keys": ROLL_KEYS}


def write_prepared_rolls(rolls: Rolls, source: str, out: Path, dropped: int = 0) -> dict:
    """Write piano rolls already in memory (a music21 corpus is small enough) as a
    prepared folder of rolls."""
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        writer = _SplitWriter(out, split, "rolls", "|b1", (ROLL_KEYS,))
        for roll in rolls[split]:
            writer.append(roll)
        writer.close()
    summary = {**_rolls_format(), "source": source,
               "pieces": {s: len(rolls[s]) for s in SPLITS},
               "frames": {s: sum(len(r) for r in rolls[s]) for s in SPLITS},
               "events_outside_the_keys": dropped}
    (out / "prepared.json").write_text(json.dumps(summary, indent=1))
    return summary


def load_prepared_rolls(folder: Path) -> tuple[Rolls, dict]:
    """The splits of a prepared folder of rolls, each piece a view into the memory-mapped
    array of its split; and its summary."""
    summary = _summary(folder, PREPARED_ROLLS_FORMAT)
    rolls: Rolls = {}
    for split in SPLITS:
        frames = np.load(folder / f"{split}.rolls.npy", mmap_mode="r")
        starts = np.load(folder / f"{split}.starts.npy")
        rolls[split] = [frames[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    return rolls, summary


def _summary(folder: Path, expected_format: str) -> dict:
    summary_path = Path(folder) / "prepared.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{folder} is not a prepared folder (no prepared.json); "
                                "make one with `antiphon prepare`")
    summary = json.loads(summary_path.read_text())
    if summary.get("format") != expected_format:
        raise ValueError(f"{folder}: format {summary.get('format')!r} is not "
                         f"{expected_format}")
    return summary


def write_prepared(splits: dict[str, TokenSplit], source: str, out: Path,
                   skipped: dict[str, str] | None = None) -> dict:
    """Write splits already in memory (a music21 corpus is small enough) in the same form."""
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        np.save(out / f"{split}.tokens.npy", np.asarray(splits[split].tokens, dtype="<i2"))
        np.save(out / f"{split}.starts.npy", np.asarray(splits[split].starts, dtype=np.int64))
    summary = {
        "format": PREPARED_FORMAT, "source": source, "codec": asdict(EventCodec().config),
        "pieces": {s: splits[s].pieces for s in SPLITS},
        "tokens": {s: len(splits[s]) for s in SPLITS},
        "files": sum(splits[s].pieces for s in SPLITS), "duplicates": 0,
        "skipped": skipped or {},
    }
    (out / "prepared.json").write_text(json.dumps(summary, indent=1))
    return summary


def load_prepared(folder: Path) -> tuple[dict[str, TokenSplit], dict]:
    """The splits of a prepared folder, their tokens memory-mapped; and its summary."""
    summary = _summary(folder, PREPARED_FORMAT)
    splits = {}
    for split in SPLITS:
        tokens = np.load(folder / f"{split}.tokens.npy", mmap_mode="r")
        starts = np.load(folder / f"{split}.starts.npy")
        splits[split] = TokenSplit(tokens, starts)
    return splits, summary
