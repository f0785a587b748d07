"""The texture of a call, and the polyphony an answer to it keeps (`--texture`).

A musician who plays a single line expects a line back, not a block of chords; one who
plays chords may get chords. Left alone, the shipped models answer a 12-note melody with
three or four notes at a time: they learnt from piano music. So the answer's polyphony
(the PitchRules / WellFormedAnswer rule of constraints.py, which masks every strike while
the limit sounds, at every sampling step) follows the call:

- "melody": one voice, always;
- "chords": no limit of its own (only `--max-polyphony`);
- "auto": the call decides. Its notes are laid out in time and the stretches where two or
  more sound at once are measured. A stretch of at most LEGATO_TICKS (1/8 beat) is a
  player's legato, one note let go just after the next is struck, and does not count.
  When the stretches that do count cover less than CHORD_SHARE of the time the call
  sounds, the call is a melody; otherwise chords, and the answer may sound as many notes
  at once as the call did (its most, over the stretches that count), or the configured
  limit if lower.

A melody over a held bass note (a drone, a left hand holding the root) is two voices for
most of its time: it is chords, and the answer may sound two notes at once. The register
is held by the range rule of key_finding.rules_for_call (with `--scale auto`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from antiphon.engine.constraints import TEXTURES, PitchRules
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.key_finding import rules_for_call

__all__ = ["TEXTURES", "Texture", "call_texture", "rules_for_answer", "rules_for_texture"]
LEGATO_TICKS = TICKS_PER_BEAT // 8  # a longer overlap of two notes is two voices
CHORD_SHARE = 0.2  # of the call's sounding time, in two or more voices: a call of chords


@dataclass(frozen=True)
class Texture:
    """What a call's texture is: melody or chords, and its most voices at once."""

    kind: str  # "melody" or "chords"
    voices: int  # most notes sounding at once, legato overlaps aside
    share: float  # of the call's sounding time in two or more voices (legato aside)


def call_texture(call: Sequence[NoteEvent]) -> Texture | None:
    """The texture of `call` (events in time order, ticks non-decreasing); None when it
    strikes no note. A note still held when the call ends sounds to its last event."""
    if not any(event.velocity > 0 for event in call):
        return None
    end = max(event.tick for event in call)
    sounding: dict[int, int] = {}  # pitch -> strike tick
    changes: list[tuple[int, int]] = []  # (tick, +1 at a strike / -1 at a release)
    for event in call:
        if event.velocity > 0:
            if event.pitch in sounding:  # struck again while sounding: the old one ends
                changes.append((event.tick, -1))
            sounding[event.pitch] = event.tick
            changes.append((event.tick, 1))
        elif sounding.pop(event.pitch, None) is not None:
            changes.append((event.tick, -1))
    changes.extend((end, -1) for _ in sounding)
    changes.sort(key=lambda change: (change[0], change[1]))  # releases before strikes
    voices, count, since, total, polyphonic = 1, 0, 0, 0, 0
    stretch_start, stretch_most = None, 0  # the stretch in two or more voices so far
    for tick, step in changes:
        if count > 0:
            total += tick - since
        count += step
        since = tick
        if count >= 2:
            if stretch_start is None:
                stretch_start, stretch_most = tick, 0
            stretch_most = max(stretch_most, count)
        elif stretch_start is not None:
            if tick - stretch_start > LEGATO_TICKS:
                polyphonic += tick - stretch_start
                voices = max(voices, stretch_most)
            stretch_start = None
    share = polyphonic / total if total else 0.0
    kind = "chords" if voices > 1 and share >= CHORD_SHARE else "melody"
    return Texture(kind, voices if kind == "chords" else 1, share)


def rules_for_answer(call: Sequence[NoteEvent], base: PitchRules,
                     follow_key: bool) -> tuple[PitchRules, str]:
    """The rules an answer to `call` keeps, live (InteractionLoop._answer) and offline
    (continuation.sample_answer) alike: `base` narrowed to the call's key and range when
    `follow_key` (scale "auto": key_finding.rules_for_call), and its polyphony to the
    texture `base.texture` asks for. Returns (rules, what was chosen, for the log)."""
    rules, key = rules_for_call(call, base) if follow_key else (base, "")
    rules, texture = rules_for_texture(call, rules)
    return rules, f"{texture}; {key}" if key else texture


def rules_for_texture(call: Sequence[NoteEvent], base: PitchRules) -> tuple[PitchRules, str]:
    """`base` with its polyphony held to `base.texture` and, with "auto", to the call's
    texture. Returns (rules, what was chosen, for the log)."""
    texture, limit = base.texture, base.max_polyphony
    if texture == "chords":
        return base, "chords: " + _voices(limit)
    if texture == "melody":
        return replace(base, max_polyphony=1), "melody: one voice"
    found = call_texture(call)
    if found is None:
        return base, "no call notes: " + _voices(limit)
    if found.kind == "melody":
        return replace(base, max_polyphony=1), "melody: one voice"
    voices = found.voices if limit is None else min(limit, found.voices)
    return (replace(base, max_polyphony=voices),
            f"chords ({found.share:.0%} of the call): " + _voices(voices))


def _voices(limit: int | None) -> str:
    return "any number of voices" if limit is None else f"up to {limit} voices"
