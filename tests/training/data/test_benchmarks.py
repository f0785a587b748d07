"""The benchmark loaders, the frame-NLL protocol and its floors, on tiny hand-made files
(the real benchmark files are not part of a clone)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from antiphon.engine.events import NoteEvent
from antiphon.engine.pianoroll import HELD, SILENT, STRUCK, PianoRollCodec, PianoRollCodecConfig
from antiphon.training.data.benchmarks import (
    load_benchmark,
    load_bl2012,
    load_jsb_json,
    roll_to_frames,
)
from antiphon.training.evaluation.frame_baselines import (
    MarkovBaseline,
    UnigramBaseline,
    benchmark_baselines,
    frame_nll,
)


def roll(*frames: list[int]) -> np.ndarray:
    """bool [T, 88] with the given MIDI pitches sounding in each frame."""
    result = np.zeros((len(frames), 88), dtype=bool)
    for index, pitches in enumerate(frames):
        result[index, [p - 21 for p in pitches]] = True
    return result


SPLITS = {
    "train": [roll([60, 64], [60, 64], [62]), roll([21]), roll([108], [], [108])],
    "valid": [roll([67], [67])],
    "test": [roll([60], [], [60, 72], [72])],
}


def write_mat(path, splits) -> None:
    """A file shaped like the real ones: `<split>data`, a 1 x N cell array of uint8 rolls."""
    scipy_io = pytest.importorskip("scipy.io")
    contents = {}
    for split, pieces in splits.items():
        cells = np.empty((1, len(pieces)), dtype=object)
        for index, piece in enumerate(pieces):
            cells[0, index] = piece.astype(np.uint8)
        contents[f"{split}data"] = cells
    scipy_io.savemat(path, contents)


def to_json(splits) -> dict:
    return {split: [[[int(k) + 21 for k in np.flatnonzero(frame)] for frame in piece]
                    for piece in pieces] for split, pieces in splits.items()}


def assert_same_splits(loaded, expected) -> None:
    assert list(loaded) == ["train", "valid", "test"]
    for split, pieces in expected.items():
        assert len(loaded[split]) == len(pieces)
        for got, want in zip(loaded[split], pieces, strict=True):
            assert got.dtype == bool
            np.testing.assert_array_equal(got, want)


# -- loading ------------------------------------------------------------------------------
def test_load_bl2012_reads_cell_arrays_of_rolls(tmp_path):
    path = tmp_path / "tiny.mat"
    write_mat(path, SPLITS)
    assert_same_splits(load_bl2012(path), SPLITS)
    assert_same_splits(load_benchmark(path), SPLITS)


def test_load_bl2012_errors(tmp_path):
    pytest.importorskip("scipy")
    with pytest.raises(OSError, match="cannot read benchmark file"):
        load_bl2012(tmp_path / "missing.mat")
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"not a MATLAB file " * 20)
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        load_bl2012(garbage)
    no_test = tmp_path / "no_test.mat"
    write_mat(no_test, {"train": SPLITS["train"], "valid": SPLITS["valid"]})
    with pytest.raises(ValueError, match="no 'testdata' entry"):
        load_bl2012(no_test)
    narrow = tmp_path / "narrow.mat"
    write_mat(narrow, {**SPLITS, "test": [np.zeros((3, 87), bool)]})
    with pytest.raises(ValueError, match=r"test piece 0 must be a \[frames, 88\] array"):
        load_bl2012(narrow)


def test_load_jsb_json_reads_pitch_lists(tmp_path):
    path = tmp_path / "tiny.json"
    data = to_json(SPLITS)
    data["valid"][0][0] = [67.0]  # JSON writers may store pitches as floats
    path.write_text(json.dumps(data))
    assert_same_splits(load_jsb_json(path), SPLITS)
    assert_same_splits(load_benchmark(path), SPLITS)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        (json.dumps({"train": [], "valid": []}), "no list of pieces under 'test'"),
        (json.dumps({"train": [[[20]]], "valid": [], "test": []}), "pitch 20 lies outside"),
        (json.dumps({"train": [[[60.5]]], "valid": [], "test": []}), "60.5 is not a MIDI pitch"),
        (json.dumps({"train": [[60]], "valid": [], "test": []}), "must be a list of frames"),
    ],
)
def test_load_jsb_json_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_jsb_json(path)


def test_missing_json_and_unknown_format(tmp_path):
    with pytest.raises(OSError, match="cannot read benchmark file"):
        load_jsb_json(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="unknown benchmark format '.npz'"):
        load_benchmark(tmp_path / "rolls.npz")


# -- rolls to codec frames ------------------------------------------------------------------
def test_roll_to_frames_reads_consecutive_frames_as_held():
    frames = roll_to_frames(roll([60], [60], [], [60, 64], [64]))
    assert frames.dtype == np.uint8 and frames.shape == (5, 88)
    assert frames[:, 60 - 21].tolist() == [STRUCK, HELD, SILENT, STRUCK, SILENT]
    assert frames[:, 64 - 21].tolist() == [SILENT, SILENT, SILENT, STRUCK, HELD]
    quarters = PianoRollCodec(PianoRollCodecConfig(frames_per_beat=1))
    assert quarters.decode(frames) == [
        NoteEvent(0, 60, 80), NoteEvent(48, 60, 0), NoteEvent(72, 60, 80),
        NoteEvent(72, 64, 80), NoteEvent(96, 60, 0), NoteEvent(120, 64, 0)]


def test_roll_to_frames_onto_a_smaller_keyboard():
    config = PianoRollCodecConfig(lowest_pitch=48, keys=37)
    frames = roll_to_frames(roll([48], [60, 84]), config)
    assert frames.shape == (2, 37)
    assert frames[0, 0] == STRUCK and frames[1, 12] == STRUCK and frames[1, 36] == STRUCK
    with pytest.raises(ValueError, match=r"pitches \[47, 85\] sound in the roll"):
        roll_to_frames(roll([47, 85]), config)


# -- the NLL protocol and the floors --------------------------------------------------------
def test_frame_nll_by_hand():
    """Two keys; pieces of 2 and 1 frames; the mean is over frames, not over pieces."""
    p_first = np.array([[0.5, 0.25], [0.8, 0.1]])
    roll_first = np.array([[1, 0], [1, 1]], dtype=bool)
    p_second = np.array([[0.9, 0.6]])
    roll_second = np.array([[0, 0]], dtype=bool)
    frame_losses = [
        -(math.log(0.5) + math.log(0.75)),  # key 0 sounds at 0.5, key 1 stays silent at 0.75
        -(math.log(0.8) + math.log(0.1)),
        -(math.log(0.1) + math.log(0.4)),
    ]
    nll = frame_nll([p_first, p_second], [roll_first, roll_second])
    assert nll == pytest.approx(sum(frame_losses) / 3)
    skipped = frame_nll([p_first, p_second], [roll_first, roll_second], skip_first_frame=True)
    assert skipped == pytest.approx(frame_losses[1])


def test_frame_nll_clips_certainty_and_checks_its_input():
    certain_and_wrong = frame_nll([np.array([[0.0]])], [np.array([[True]])])
    assert math.isfinite(certain_and_wrong) and certain_and_wrong > 10
    with pytest.raises(ValueError, match="differ in shape"):
        frame_nll([np.zeros((2, 88))], [np.zeros((3, 88), bool)])
    with pytest.raises(ValueError, match="lie in"):
        frame_nll([np.full((1, 2), 1.5)], [np.zeros((1, 2), bool)])
    with pytest.raises(ValueError, match="2 predictions for 1 pieces"):
        frame_nll([np.zeros((1, 2))] * 2, [np.zeros((1, 2), bool)])
    with pytest.raises(ValueError, match="no frames"):
        frame_nll([np.zeros((1, 2))], [np.zeros((1, 2), bool)], skip_first_frame=True)


def test_baselines_are_smoothed_counts():
    train = [np.array([[1, 0], [1, 0], [0, 0], [1, 0]], dtype=bool)]
    unigram = UnigramBaseline.fit(train)
    np.testing.assert_allclose(unigram.p_sounding, [3.5 / 5, 0.5 / 5])  # add 1/2 per outcome
    markov = MarkovBaseline.fit(train)
    # key 0: after sounding 1 of 2 times, after silence 1 of 1; key 1: silent after silence 3x
    np.testing.assert_allclose(markov.p_after_sounding, [1.5 / 3, 0.5 / 1])
    np.testing.assert_allclose(markov.p_after_silent, [1.5 / 2, 0.5 / 4])
    test = np.array([[1, 0], [0, 0]], dtype=bool)
    np.testing.assert_allclose(markov.predict(test), [[0.7, 0.1], [0.5, 0.125]])


def test_benchmark_baselines_by_hand(tmp_path):
    """Only A0 (key 0) ever sounds: train [on, on, off, on], test [on, off]."""
    path = tmp_path / "a0.json"
    path.write_text(json.dumps({"train": [[[21], [21], [], [21]]], "valid": [],
                                "test": [[[21], []]]}))
    silent_keys = 87
    unigram = (-math.log(0.7) - math.log(0.3)) / 2 - silent_keys * math.log(0.9)
    first_frame = -math.log(0.7) - silent_keys * math.log(0.9)  # from the unigram
    second_frame = -math.log(1 - 0.5) - silent_keys * math.log(1 - 0.125)
    figures = benchmark_baselines(path)
    assert figures["unigram"] == pytest.approx(unigram)
    assert figures["markov"] == pytest.approx((first_frame + second_frame) / 2)
    assert figures["test_frames"] == 2
    assert benchmark_baselines(path, skip_first_frame=True)["markov"] == pytest.approx(
        second_frame)
