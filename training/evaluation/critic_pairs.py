"""Calls, their real continuations and sampled answers: the data the answer critic learns
from and is measured on.

For each tune of a music21 collection's split (key_calls.py parses and caches them):
- the call: its first two bars (key_calls.Tune.call), as a player would play it;
- the real continuation: the notes that start in the next two bars, cut at their end;
- a sampled answer: what the shipped model (default.onnx) answers the call with, sampled
  as `antiphon continue` does with its default settings (texture auto, scale auto with the
  key lean, temperature 1.0, the default top-p), starting where the real continuation
  starts and lasting as long.
A third kind, another tune's continuation moved into this call's time and range
(`other_tune_answer`), is made when needed: it costs nothing, so it is never stored.

Sampling takes a few hundredths of a second an answer, so a split's pairs are sampled
once and cached as one `.npz` in the cache folder; training again reads them back.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.engine.events import NoteEvent
from antiphon.training.evaluation.key_calls import CALL_VELOCITY, Tune, load_tunes

logger = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when what is stored, or how it is sampled, changes
CALL_BARS = 2
ANSWER_BARS = 2
MIN_CALL_NOTES = 3
MIN_ANSWER_NOTES = 2
COLLECTIONS = ("essenFolksong", "oneills1850", "bach")


def events_array(events: list[NoteEvent]) -> np.ndarray:
    """int64 [N, 3]: tick, pitch, velocity."""
    return np.array([(e.tick, e.pitch, e.velocity) for e in events], np.int64).reshape(-1, 3)


def to_events(array: np.ndarray) -> list[NoteEvent]:
    return [NoteEvent(int(t), int(p), int(v)) for t, p, v in array.tolist()]


def continuation(tune: Tune, start: int, end: int) -> list[NoteEvent]:
    """The tune's notes that start in [start, end), as events, each cut at `end`."""
    events: list[NoteEvent] = []
    for onset, stop, pitch in tune.notes.tolist():
        if start <= onset < end:
            events.append(NoteEvent(onset, pitch, CALL_VELOCITY))
            events.append(NoteEvent(min(stop, end), pitch, 0))
    events.sort(key=lambda e: (e.tick, e.velocity > 0, e.pitch))
    return events


@dataclass
class PairSet:
    """One collection's split: per tune a call, its real continuation and a sampled answer,
    each an events array; the answers start at `starts` and end at `ends`."""

    name: str
    ids: list[str]
    calls: list[np.ndarray]
    reals: list[np.ndarray]
    sampled: list[np.ndarray]
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def other_tune_answer(pairs: PairSet, index: int, other: int) -> np.ndarray:
    """Pair `other`'s real continuation moved to where pair `index`'s answer starts, cut to
    its length, and transposed so its median pitch meets the median pitch of `index`'s
    call: an answer that sounds real and is in the call's range, but is not its answer."""
    source = pairs.reals[other]
    call = pairs.calls[index]
    start, end = int(pairs.starts[index]), int(pairs.ends[index])
    delta = start - int(pairs.starts[other])
    shift = int(np.median(call[call[:, 2] > 0, 1]) - np.median(source[source[:, 2] > 0, 1]))
    if not (0 <= source[:, 1].min() + shift and source[:, 1].max() + shift <= 127):
        shift = 0
    events: list[tuple[int, int, int]] = []
    for onset, stop, pitch in _notes(source):
        if onset + delta < end:
            events.append((onset + delta, pitch + shift, CALL_VELOCITY))
            events.append((min(stop + delta, end), pitch + shift, 0))
    events.sort(key=lambda e: (e[0], e[2] > 0, e[1]))
    return np.array(events, np.int64).reshape(-1, 3)


def _notes(events: np.ndarray) -> list[tuple[int, int, int]]:
    """(onset, stop, pitch) of each strike in an events array, released or not (a strike
    never released stops at the last event's tick)."""
    notes: list[tuple[int, int, int]] = []
    sounding: dict[int, int] = {}
    for tick, pitch, velocity in events.tolist():
        if pitch in sounding:
            notes.append((sounding.pop(pitch), tick, pitch))
        if velocity > 0:
            sounding[pitch] = tick
    last = int(events[:, 0].max()) if len(events) else 0
    notes.extend((onset, last, pitch) for pitch, onset in sounding.items())
    return sorted(notes)


# call events, answer start tick, answer length in ticks, seed -> the answer's events.
# The daemon makes it (daemon/cli/critic_command.py): sampling as `antiphon continue` does
# is the daemon's, and training never imports the daemon.
Sampler = Callable[[list[NoteEvent], int, int, int], list[NoteEvent]]


def sample_pairs(tunes: list[Tune], name: str, sampler: Sampler, seed: int = 0) -> PairSet:
    """Calls, real continuations and one sampled answer per tune (see the module docstring)."""
    pairs = PairSet(name, [], [], [], [], np.zeros(0, np.int64), np.zeros(0, np.int64))
    starts, ends = [], []
    started = time.monotonic()
    for number, tune in enumerate(tunes):
        call = tune.call(CALL_BARS)
        start, end = tune.call_end(CALL_BARS), tune.call_end(CALL_BARS + ANSWER_BARS)
        real = continuation(tune, start, end)
        if end <= start or len(call) < 2 * MIN_CALL_NOTES or len(real) < 2 * MIN_ANSWER_NOTES:
            continue
        answer = sampler(call, start, end - start, zlib.crc32(f"{seed}:{tune.id}".encode()))
        pairs.ids.append(tune.id)
        pairs.calls.append(events_array(call))
        pairs.reals.append(events_array(real))
        pairs.sampled.append(events_array(answer))
        starts.append(start)
        ends.append(end)
        if number % 500 == 499:
            logger.info("%s: %d of %d calls answered in %.0f s", name, number + 1, len(tunes),
                        time.monotonic() - started)
    pairs.starts, pairs.ends = np.array(starts, np.int64), np.array(ends, np.int64)
    return pairs


def cache_file(cache_dir: Path, name: str, split: str, limit: int | None) -> Path:
    part = split if limit is None else f"{split}-first{limit}"
    return cache_dir / f"critic-pairs-{name}-{part}-v{CACHE_VERSION}.npz"


def load_pairs(name: str, split: str, sampler: Sampler | None, limit: int | None = None,
               cache_dir: Path | None = None, seed: int = 0,
               workers: int | None = None) -> PairSet:
    """One collection's split as pairs, from the cache, else sampled with `sampler` (None:
    ValueError where they are not cached). `limit`: the first N tunes only (cached
    apart); `workers`: processes for parsing scores not yet cached."""
    from antiphon.training.data.music21_import import default_cache_dir

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    path = cache_file(cache_dir, name, split, limit)
    cached = _load(path, name)
    if cached is not None:
        return cached
    if sampler is None:
        raise ValueError(f"the critic's {name} {split} pairs are not sampled yet ({path}); "
                         "`antiphon train-critic` samples them")
    tunes = load_tunes(name, split, limit=limit, cache_dir=cache_dir, workers=workers)
    pairs = sample_pairs(tunes, name, sampler, seed)
    logger.info("%s %s: %d pairs", name, split, len(pairs))
    _save(path, pairs)
    return pairs


def _pack(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
    joined = np.concatenate(arrays) if arrays else np.zeros((0, 3), np.int64)
    return joined, offsets


def _unpack(joined: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [joined[offsets[i]: offsets[i + 1]] for i in range(len(offsets) - 1)]


def _save(path: Path, pairs: PairSet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for kind in ("calls", "reals", "sampled"):
        arrays[kind], arrays[f"{kind}_offsets"] = _pack(getattr(pairs, kind))
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            np.savez(file, ids=np.array(pairs.ids, dtype=str), starts=pairs.starts,
                     ends=pairs.ends, **arrays)
        os.replace(temporary, path)
    except OSError as err:
        logger.warning("could not write the cache %s: %s", path, err)


def _load(path: Path, name: str) -> PairSet | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            kinds = {kind: _unpack(data[kind], data[f"{kind}_offsets"])
                     for kind in ("calls", "reals", "sampled")}
            return PairSet(name, data["ids"].tolist(), kinds["calls"], kinds["reals"],
                           kinds["sampled"], data["starts"], data["ends"])
    except (OSError, ValueError, KeyError) as err:
        logger.warning("the cache %s is unreadable (%s); sampling again", path, err)
        return None
