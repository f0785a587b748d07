"""Calls with their real continuations (`antiphon eval answers`, which samples the
answers: daemon/cli/answers_eval.py, since training never imports the daemon).

A call is the first `bars` bars of a tune (key_calls.Tune.call: a pickup is played too);
its real continuation is the next `bars` bars of the same tune, the notes starting there,
cut at their end. The answer is sampled where the continuation starts, for as long.

Tunes come from music21 collections (key_calls.load_tunes: parsed once, cached): the test
split, the one no shipped model trained on, or every split of a collection none trained
on at all; or from .mid files (each file's first bars, by its first time signature).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.texture import call_texture
from antiphon.training.evaluation.key_calls import MEASURE_STARTS, Tune, TuneKey, load_tunes

# `--any-key`: each pair moved by up to a fourth either way, as the models' training windows
# are (-5..+6 semitones), so every key the models know is as likely as any other.
ANY_KEY_SHIFTS = range(-5, 7)

# Collections none of the shipped models trained on (Ryan's Mammoth Collection, 1059 fiddle
# tunes): every tune is unseen, so calls come from all three splits, not the test split
# alone (Ryan's has some 55 test tunes).
UNSEEN_COLLECTIONS = ("ryansMammoth",)
SPLITS = ("train", "valid", "test")
DEFAULT_COLLECTIONS = ("essenFolksong", "oneills1850", *UNSEEN_COLLECTIONS)


@dataclass
class CallPair:
    """One call, its real continuation and what is known of its tune."""

    collection: str
    tune_id: str
    call: list[NoteEvent]  # what the model hears, ticks from the tune's start
    call_notes: np.ndarray  # [N, 3] (start, end, pitch), ticks from the tune's start
    real: np.ndarray  # [N, 3] the real continuation, ticks from `start_tick`
    start_tick: int  # where the continuation (and the answer) starts
    length_ticks: int  # how long it lasts: the next bars
    bar_ticks: int
    key: TuneKey  # the whole tune's (key_calls.tune_key)

    @property
    def single_line(self) -> bool:
        """Whether the call is one voice, as `--texture auto` hears it (engine.texture:
        a legato overlap or a grace note's is not a second voice)."""
        texture = call_texture(self.call)
        return texture is None or texture.kind == "melody"


def notes_between(notes: np.ndarray, start: int, end: int) -> np.ndarray:
    """The notes starting in [start, end), cut at `end`, as ticks from `start`."""
    notes = np.asarray(notes, np.int64).reshape(-1, 3)
    inside = notes[(notes[:, 0] >= start) & (notes[:, 0] < end)].copy()
    inside[:, 1] = np.minimum(inside[:, 1], end)
    inside[:, :2] -= start
    return inside


def pair_of(tune: Tune, collection: str, bars: int) -> CallPair | None:
    """The tune's call and real continuation; None where either has no note or the tune
    ends before its continuation does."""
    call_end = tune.call_end(bars)
    continuation_end = tune.call_end(2 * bars)
    if len(tune.notes) == 0 or int(tune.notes[:, 1].max()) < continuation_end:
        return None
    call_notes = tune.notes[tune.notes[:, 0] < call_end].copy()
    call_notes[:, 1] = np.minimum(call_notes[:, 1], call_end)
    real = notes_between(tune.notes, call_end, continuation_end)
    if len(call_notes) == 0 or len(real) == 0:
        return None
    return CallPair(collection, tune.id, tune.call(bars), call_notes, real, call_end,
                    continuation_end - call_end, tune.bar_ticks, tune.key())


def spread_choice(items: Sequence, count: int) -> list:
    """`count` items spread evenly over `items` (all of them where there are fewer): a
    fixed choice that is not all from the collection's first region or book."""
    if count >= len(items):
        return list(items)
    indexes = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in indexes]


def collection_pairs(name: str, calls: int, bars: int, workers: int | None = None,
                     cache_dir: Path | None = None) -> list[CallPair]:
    """Up to `calls` pairs from the test split of a music21 collection (from every split
    of an UNSEEN_COLLECTIONS one)."""
    splits = SPLITS if name in UNSEEN_COLLECTIONS else ("test",)
    tunes = [tune for split in splits
             for tune in load_tunes(name, split, cache_dir=cache_dir, workers=workers)]
    return tune_pairs(tunes, name, calls, bars)


def heard_tune(name: str, events: Sequence[NoteEvent], beats_per_bar: float) -> Tune:
    """A tune from notes as heard (strike and release events, ticks from the start of its
    first bar: a .mid file as `antiphon continue` reads it), in bars of `beats_per_bar`."""
    bar = round(beats_per_bar * TICKS_PER_BEAT)
    return Tune(name, events_to_notes(events, 0), bar,
                np.arange(MEASURE_STARTS, dtype=np.int64) * bar)


def tune_pairs(tunes: Sequence[Tune], collection: str, calls: int, bars: int,
               ) -> list[CallPair]:
    """Up to `calls` pairs from `tunes` (spread evenly); ValueError where no tune lasts
    long enough for a continuation."""
    pairs = [pair for tune in tunes if (pair := pair_of(tune, collection, bars)) is not None]
    if not pairs:
        raise ValueError(f"{collection}: no tune lasts {2 * bars} bars with notes in the "
                         f"first {bars} and the next {bars}")
    return spread_choice(pairs, calls)


def events_to_notes(events: Sequence[NoteEvent], start_tick: int) -> np.ndarray:
    """Strike and release events as notes [N, 3], ticks from `start_tick` (a strike not
    released lasts no time)."""
    sounding: dict[int, list[int]] = {}
    notes = []
    for event in events:
        if event.velocity:
            sounding.setdefault(event.pitch, []).append(event.tick)
        elif sounding.get(event.pitch):
            notes.append((sounding[event.pitch].pop(0), event.tick, event.pitch))
    notes.extend((tick, tick, pitch) for pitch, ticks in sounding.items() for tick in ticks)
    array = np.array(sorted(notes), np.int64).reshape(-1, 3)
    array[:, :2] -= start_tick
    return array


def transposed(pair: CallPair, semitones: int) -> CallPair:
    """The pair moved by `semitones`: its call, its real continuation and its key."""
    def moved(notes: np.ndarray) -> np.ndarray:
        notes = np.asarray(notes, np.int64).reshape(-1, 3).copy()
        notes[:, 2] += semitones
        return notes

    call = [NoteEvent(event.tick, event.pitch + semitones, event.velocity)
            for event in pair.call]
    key = TuneKey((pair.key.tonic + semitones) % 12, pair.key.mode)
    return replace(pair, call=call, call_notes=moved(pair.call_notes), real=moved(pair.real),
                   key=key)


def in_any_key(pairs: Sequence[CallPair], seed: int) -> list[CallPair]:
    """Each pair in a key drawn at random (ANY_KEY_SHIFTS, seeded: the same draw for every
    model), within MIDI's pitches. A collection's tunes sit in a few keys, so another tune's
    continuation sounds like this one's by its key alone; calls that come in any key ask the
    relevance AUC whether an answer follows its own call, not its collection."""
    rng = np.random.default_rng(seed)
    moved = []
    for pair in pairs:
        shift = int(rng.choice(ANY_KEY_SHIFTS))
        pitches = np.concatenate([pair.call_notes[:, 2], pair.real[:, 2]])
        shift = int(np.clip(shift, -pitches.min(), 127 - pitches.max()))
        moved.append(transposed(pair, shift))
    return moved
