"""Musical fixtures and checks shared by the test suites (importable as `music_checks`:
pytest puts this folder on sys.path because tests/conftest.py lives here)."""

from __future__ import annotations

import numpy as np

from antiphon.engine.events import NoteEvent


def arpeggios(count: int, seed: int = 0) -> list[list[NoteEvent]]:
    """Major arpeggios from random roots: music a small model learns in seconds."""
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(count):
        root = int(rng.integers(48, 72))
        events, tick = [], 0
        for _ in range(16):
            for interval in (0, 4, 7, 12):
                events += [NoteEvent(tick, root + interval, 90),
                           NoteEvent(tick + 6, root + interval, 0)]
                tick += 6
        pieces.append(events)
    return pieces


def assert_well_formed(events: list[NoteEvent], start: int, end: int) -> None:
    """Every event inside [start, end]; every note struck once, released once, after it
    was struck and never at the same tick."""
    sounding: dict[int, int] = {}
    for event in events:
        assert start <= event.tick <= end, event
        if event.velocity:
            assert event.pitch not in sounding, f"{event} struck while sounding"
            sounding[event.pitch] = event.tick
        else:
            assert event.pitch in sounding, f"{event} releases a silent note"
            assert event.tick > sounding.pop(event.pitch), f"{event} ends a zero-length note"
    assert not sounding, f"never released: {sounding}"
