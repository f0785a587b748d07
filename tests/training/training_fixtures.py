"""Small data the training tests write for themselves: MIDI tunes, a JSB-shaped benchmark
file (importable from every room's tests: tests/training/conftest.py's folder is on sys.path)."""

from __future__ import annotations

import json

import mido
import numpy as np

# How far two measurements of the same NLL (torch and the engine) may differ, in nats.
TOLERANCE_NATS = 1e-3


def write_tune(path, root: int, bars: int = 8) -> None:
    track = mido.MidiTrack()
    for bar in range(bars):
        for step in (0, 2, 4, 5, 7, 5, 4, 2):
            track.append(mido.Message("note_on", note=root + step, velocity=70 + bar, time=0))
            track.append(mido.Message("note_off", note=root + step, velocity=0, time=240))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)


def write_jsb_json(path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)

    def piece(length: int) -> list[list[int]]:
        root = int(rng.integers(55, 65))
        return [[root + (4 * t) % 12, root + 7, root - 12] for t in range(length)]

    splits = {name: [piece(int(rng.integers(6, 12))) for _ in range(count)]
              for name, count in (("train", 12), ("valid", 3), ("test", 4))}
    path.write_text(json.dumps(splits))
