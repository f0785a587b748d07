"""Two-bar calls of folk tunes, each with the key the whole tune names: the data the key
finder is measured and fitted on (`antiphon eval-keys`, `training/evaluation/key_fit.py`).

A call is what a player would play into Antiphon: the first two bars of a tune, counted by
its own time signature (a pickup, shorter than a bar, is played too and does not count as
one of the two). Notes still sounding at the end of the second bar are cut there.

The truth is the tune's, not the call's, and it is defined once, here (`tune_key`):
- tonic: the pitch class of the tune's final note (the last note to start; of a final
  chord, its lowest note). Folk tunes end on their tonic far more often than not;
- mode: "major" when the major third above that tonic sounds longer in the whole tune
  than the minor third, "minor" when it sounds shorter. Where neither third sounds (a
  pentatonic tune ending on its fifth, as many Chinese ones do), the sixths decide the
  same way, and where neither sixth sounds either, "minor". Dorian and aeolian tunes are
  "minor", mixolydian ones "major": the finder names 24 keys, and the answer's scale
  follows the third.

music21 is needed to parse the scores (the `train` extra); a parsed collection is cached
as one `.npz` per collection and split in the cache folder of `music21_import`, since
parsing thousands of ABC tunes takes minutes. Pieces keep the corpus's own ids, so their
split ("train", "valid", "test") is the one every model was trained and scored on.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.training.data.corpus import split_of
from antiphon.training.data.event_tables import ImportReport
from antiphon.training.data.music21_import import (
    BUILTIN_PARSE_ERRORS,
    ParseTask,
    corpus_files,
    default_cache_dir,
    music21_version,
    parse_tasks,
    score_to_notes,
)
from antiphon.training.data.workers import map_in_workers

logger = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when what is stored changes
DEFAULT_BARS = 2
MEASURE_STARTS = 12  # measure start ticks kept per tune (enough for calls of up to 8 bars)
CALL_VELOCITY = 80


@dataclass(frozen=True)
class TuneKey:
    tonic: int  # pitch class, 0 = C
    mode: str  # "major" or "minor"


@dataclass
class Tune:
    """One parsed tune: its notes (start, end, pitch ticks), bar length and measure starts."""

    id: str
    notes: np.ndarray  # int64 [N, 3], by start
    bar_ticks: int  # one bar of the first time signature (4/4 when none is written)
    measure_starts: np.ndarray  # int64 [<= MEASURE_STARTS]: ticks where measures begin

    def call_end(self, bars: int = DEFAULT_BARS) -> int:
        """Where the first `bars` bars end: a first measure shorter than a bar is a pickup,
        played before them."""
        starts = [int(s) for s in self.measure_starts]
        first = starts[0] if starts else 0
        pickup = len(starts) >= 2 and starts[1] - first < self.bar_ticks
        index = bars + (1 if pickup else 0)
        if index < len(starts):
            return starts[index]
        lead = (starts[1] - first) if pickup else 0
        return first + lead + bars * self.bar_ticks

    def call(self, bars: int = DEFAULT_BARS) -> list[NoteEvent]:
        """The call as note events: notes starting before `call_end`, cut there."""
        end = self.call_end(bars)
        events: list[NoteEvent] = []
        for start, stop, pitch in self.notes.tolist():
            if start < end:
                events.append(NoteEvent(start, pitch, CALL_VELOCITY))
                events.append(NoteEvent(min(stop, end), pitch, 0))
        events.sort(key=lambda e: (e.tick, e.velocity > 0, e.pitch))
        return events

    def key(self) -> TuneKey:
        return tune_key(self.notes)


def tune_key(notes: np.ndarray) -> TuneKey:
    """The truth the finder is scored against (the module docstring says why)."""
    last_start = notes[:, 0].max()
    tonic = int(notes[notes[:, 0] == last_start, 2].min()) % 12
    lengths = np.zeros(12)
    np.add.at(lengths, notes[:, 2] % 12, notes[:, 1] - notes[:, 0])
    for major, minor in ((4, 3), (9, 8)):  # the thirds; where neither sounds, the sixths
        if lengths[(tonic + major) % 12] != lengths[(tonic + minor) % 12]:
            more = lengths[(tonic + major) % 12] > lengths[(tonic + minor) % 12]
            return TuneKey(tonic, "major" if more else "minor")
    return TuneKey(tonic, "minor")


def _parse(task: ParseTask) -> tuple[str, np.ndarray | None, int, np.ndarray, str]:
    """In a worker: (id, notes, bar ticks, measure starts, why None)."""
    from music21 import converter, meter, stream
    from music21.exceptions21 import Music21Exception

    empty = np.zeros(0, np.int64)
    try:
        if task.abc_text is not None:
            score = converter.parseData(task.abc_text, format="abc")
        else:
            score = converter.parse(task.path, forceSource=True)
        if isinstance(score, stream.Opus):
            score = score.scores[0]
        notes = score_to_notes(score)
        signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
        bar = signatures[0].barDuration.quarterLength if signatures else 4.0
        parts = list(score.parts) or [score]
        measures = list(parts[0].getElementsByClass(stream.Measure))[:MEASURE_STARTS]
        starts = np.array([round(float(m.offset) * TICKS_PER_BEAT) for m in measures],
                          np.int64)
    except (Music21Exception, *BUILTIN_PARSE_ERRORS) as err:
        return task.piece_id, None, 0, empty, f"{type(err).__name__}: {err}"
    if len(notes) == 0:
        return task.piece_id, None, 0, empty, "no notes"
    notes = notes[np.argsort(notes[:, 0], kind="stable")][:, :3]
    return task.piece_id, notes, round(float(bar) * TICKS_PER_BEAT), starts, ""


def cache_file(cache_dir: Path, name: str, split: str) -> Path:
    return cache_dir / f"keycalls-{name}-{split}-v{CACHE_VERSION}.npz"


def load_tunes(name: str, split: str, limit: int | None = None,
               cache_dir: Path | None = None, workers: int | None = None) -> list[Tune]:
    """The tunes of one music21 collection's split ("train", "valid", "test"), parsed or
    from the cache. `limit` takes the first N (in the corpus's order) and caches them apart,
    so a quick run never parses the whole split."""
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    whole = cache_file(cache_dir, name, split)
    candidates = [whole] if limit is None else [whole, cache_file(cache_dir, name,
                                                                  f"{split}-first{limit}")]
    for path in candidates:
        tunes = _load(path)
        if tunes is not None:
            return tunes if limit is None else tunes[:limit]
    report = ImportReport(name)
    tasks = [t for t in parse_tasks(corpus_files(name, report), report)
             if split_of(t.piece_id) == split]
    if not tasks and split != "train":
        raise ValueError(f"{name}: no tune hashes into the {split} split")
    if limit is not None:
        tasks = tasks[:limit]
    started = time.monotonic()
    tunes = []
    for piece_id, notes, bar, starts, why in map_in_workers(_parse, tasks, workers):
        if notes is None:
            logger.info("%s: skipped %s: %s", name, piece_id, why)
            continue
        tunes.append(Tune(piece_id, notes, bar, starts))
    logger.info("%s %s: %d tunes parsed in %.0f s", name, split, len(tunes),
                time.monotonic() - started)
    _save(whole if limit is None else cache_file(cache_dir, name, f"{split}-first{limit}"),
          tunes)
    return tunes


def _save(path: Path, tunes: list[Tune]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    notes = [t.notes for t in tunes]
    starts = np.full((len(tunes), MEASURE_STARTS), -1, np.int64)
    for row, tune in zip(starts, tunes, strict=True):
        row[: len(tune.measure_starts)] = tune.measure_starts
    offsets = np.concatenate([[0], np.cumsum([len(n) for n in notes])]).astype(np.int64)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            np.savez(file, music21_version=np.array(music21_version()),
                     ids=np.array([t.id for t in tunes], dtype=str),
                     notes=np.concatenate(notes) if notes else np.zeros((0, 3), np.int64),
                     offsets=offsets, bars=np.array([t.bar_ticks for t in tunes], np.int64),
                     starts=starts)
        os.replace(temporary, path)
    except OSError as err:  # a read-only home still measures, only slower next time
        logger.warning("could not write the cache %s: %s", path, err)


def _load(path: Path) -> list[Tune] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["music21_version"]) != music21_version():
                return None
            ids, notes, offsets = data["ids"].tolist(), data["notes"], data["offsets"]
            bars, starts = data["bars"], data["starts"]
    except (OSError, ValueError, KeyError) as err:
        logger.warning("the cache %s is unreadable (%s); parsing again", path, err)
        return None
    return [Tune(piece_id, notes[offsets[i]: offsets[i + 1]], int(bars[i]),
                 starts[i][starts[i] >= 0])
            for i, piece_id in enumerate(ids)]
