"""`antiphon prepare`: a folder of MIDI files to memory-mapped token arrays, on every core.

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
from antiphon.training.corpus import map_in_workers, split_of
from antiphon.training.midi_folder import find_midi_files, read_midi_task
from antiphon.training.token_data import TokenSplit

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
PREPARED_FORMAT = "antiphon-prepared-tokens-v1"


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
    """Appends pieces to `<split>.tokens.npy` (raw int16, then given its header at close)."""

    def __init__(self, folder: Path, split: str) -> None:
        self.folder, self.split = folder, split
        self.raw = open(folder / f"{split}.tokens.raw", "wb")  # noqa: SIM115 (closed in close)
        self.starts = [0]

    def append(self, tokens: np.ndarray) -> None:
        self.raw.write(tokens.astype("<i2").tobytes())
        self.starts.append(self.starts[-1] + len(tokens))

    def close(self) -> None:
        """Write the .npy: its header (now that the length is known), then the raw tokens,
        copied file to file in blocks."""
        self.raw.close()
        raw_path = self.folder / f"{self.split}.tokens.raw"
        header = {"descr": "<i2", "fortran_order": False, "shape": (self.starts[-1],)}
        with open(self.folder / f"{self.split}.tokens.npy", "wb") as out, \
                open(raw_path, "rb") as raw:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, length=1 << 24)
        raw_path.unlink()
        np.save(self.folder / f"{self.split}.starts.npy", np.array(self.starts, np.int64))


def prepare_midi_folder(folder: Path, out: Path, workers: int | None = None,
                        batch_files: int = 512) -> dict:
    """Tokenise every MIDI file under `folder` into `out`; returns what prepared.json says."""
    out.mkdir(parents=True, exist_ok=True)
    paths = find_midi_files(folder)
    writers = {split: _SplitWriter(out, split) for split in SPLITS}
    seen: set[bytes] = set()
    skipped: dict[str, str] = {}
    duplicates = 0
    try:
        for first in range(0, len(paths), batch_files):
            batch = paths[first:first + batch_files]
            for path, (tokens, reason) in zip(batch, map_in_workers(encode_file_task, batch,
                                                                    workers), strict=True):
                piece_id = f"{folder.name}/{path.relative_to(folder).as_posix()}"
                if tokens is None:
                    skipped[piece_id] = reason
                    continue
                digest = hashlib.blake2b(tokens.tobytes(), digest_size=16).digest()
                if digest in seen:
                    duplicates += 1
                    continue
                seen.add(digest)
                writers[split_of(piece_id)].append(tokens)
            log.info("prepared %d of %d files", min(first + batch_files, len(paths)),
                     len(paths))
    finally:
        for writer in writers.values():
            writer.close()
    summary = {
        "format": PREPARED_FORMAT, "source": f"midi:{folder.name}",
        "codec": asdict(EventCodec().config),
        "pieces": {s: len(w.starts) - 1 for s, w in writers.items()},
        "tokens": {s: w.starts[-1] for s, w in writers.items()},
        "files": len(paths), "duplicates": duplicates, "skipped": skipped,
    }
    (out / "prepared.json").write_text(json.dumps(summary, indent=1))
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
    summary_path = folder / "prepared.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{folder} is not a prepared folder (no prepared.json); "
                                "make one with `antiphon prepare`")
    summary = json.loads(summary_path.read_text())
    if summary.get("format") != PREPARED_FORMAT:
        raise ValueError(f"{folder}: format {summary.get('format')!r} is not "
                         f"{PREPARED_FORMAT}")
    splits = {}
    for split in SPLITS:
        tokens = np.load(folder / f"{split}.tokens.npy", mmap_mode="r")
        starts = np.load(folder / f"{split}.starts.npy")
        splits[split] = TokenSplit(tokens, starts)
    return splits, summary
