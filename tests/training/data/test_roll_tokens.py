"""Token families on piano-roll benchmarks: rolls serialised as event tokens, scored in
nats per frame through the checkpoint and through the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from training_fixtures import TOLERANCE_NATS, write_jsb_json  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.codec import EventCodec  # noqa: E402
from antiphon.exported_models import DEFAULT_MODEL, model_path  # noqa: E402
from antiphon.training.data.benchmarks import load_benchmark  # noqa: E402
from antiphon.training.data.roll_tokens import (  # noqa: E402
    nll_per_frame,
    roll_token_split,
    roll_tokens,
)
from antiphon.training.data.rolls import ROLL_LOWEST_PITCH  # noqa: E402
from antiphon.training.evaluation.held_out import load_token_model  # noqa: E402
from antiphon.training.fit.checkpoint import read_checkpoint  # noqa: E402

codec = EventCodec()


def decode_roll(tokens: np.ndarray, frames: int, frame_ticks: int) -> np.ndarray:
    """The roll a token sequence plays: each note fills the frames it spans."""
    roll = np.zeros((frames, 88), dtype=bool)
    sounding: dict[int, int] = {}
    for event in codec.decode(int(t) for t in tokens):
        if event.velocity:
            sounding[event.pitch] = event.tick
        else:
            start = sounding.pop(event.pitch)
            roll[start // frame_ticks: event.tick // frame_ticks,
                 event.pitch - ROLL_LOWEST_PITCH] = True
    assert not sounding  # every note-on has its note-off
    return roll


@pytest.mark.parametrize("frame_ticks", [24, 12, 6])
def test_a_roll_survives_the_round_trip_through_tokens(frame_ticks):
    rng = np.random.default_rng(frame_ticks)
    for _ in range(20):
        roll = rng.random((int(rng.integers(1, 40)), 88)) < 0.05
        roll[:int(rng.integers(0, 4))] = False  # leading silence
        roll[len(roll) - int(rng.integers(0, 4)):] = False  # trailing silence
        tokens = roll_tokens(roll, codec, frame_ticks)
        assert tokens[0] == codec.bos
        # The tokens span the whole roll, trailing silence too ...
        assert sum(codec.shift_ticks(int(t)) for t in tokens) == len(roll) * frame_ticks
        # ... and play it back exactly.
        np.testing.assert_array_equal(decode_roll(tokens, len(roll), frame_ticks), roll)


def test_a_held_key_is_one_note_and_releases_come_before_strikes():
    roll = np.zeros((4, 88), dtype=bool)
    roll[0:3, 39] = True  # middle C held three frames
    roll[0, 43] = roll[1, 40] = True  # E, then C#
    names = [codec.token_name(int(t)) for t in roll_tokens(roll, codec, 24)]
    assert names == ["BOS", "VELOCITY_9", "NOTE_ON_60", "NOTE_ON_64", "SHIFT_24",
                     "NOTE_OFF_64", "NOTE_ON_61", "SHIFT_24", "NOTE_OFF_61", "SHIFT_24",
                     "NOTE_OFF_60", "SHIFT_24"]


def test_nll_per_frame_is_the_split_total_over_its_frames():
    rolls = [np.eye(88, dtype=bool)[:5], np.eye(88, dtype=bool)[:3]]
    split = roll_token_split(rolls, codec, frames_per_beat=2)
    predicted = len(split) - split.pieces  # every token after each piece's BOS
    assert nll_per_frame(1.5, split, 8) == pytest.approx(1.5 * predicted / 8)


@pytest.mark.slow
def test_a_token_family_trains_on_a_benchmark_and_is_scored_per_frame(tmp_path):
    """`train-frames --family gru` trains on the serialised rolls; its checkpoint and its
    export score the test split alike, in nats per frame, and far below a coin per key."""
    from antiphon.training.export import export_token_model

    data = tmp_path / "jsb-chorales-quarter.json"
    write_jsb_json(data)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train-frames", str(data), "--out", str(run), "--family", "gru", "--epochs", "4",
        "--steps-per-epoch", "80", "--batch-size", "8", "--window", "32", "--lr", "1e-2",
        "--transpose", "0", "0", "--model-config", '{"hidden": 32, "embedding": 16}'])
    assert result.exit_code == 0, result.output
    assert "nats/frame" in result.output
    best = run / "best.pt"
    onnx_path = tmp_path / "jsb-gru.onnx"
    export_token_model(best, onnx_path, "jsb-gru", parity_steps=20)
    assert load_token_model(onnx_path).benchmark == "jsb"  # the card says what it learned on
    docs = tmp_path / "docs"
    result = CliRunner().invoke(app, ["eval", str(best), str(onnx_path), "--benchmark",
                                      str(data), "--write-docs", str(docs)])
    assert result.exit_code == 0, result.output
    tables = json.loads((docs / "MODELS.json").read_text())
    assert set(tables) - {"command", "measured_on", "notes", "published", "units"} == {"jsb"}
    figures = tables["jsb"]
    recorded = read_checkpoint(best)["metrics"]["test_nll_per_frame"]
    assert figures["gru (run)"] == pytest.approx(recorded, abs=TOLERANCE_NATS)
    assert figures["jsb-gru"] == pytest.approx(figures["gru (run)"], abs=TOLERANCE_NATS)
    assert figures["jsb-gru"] < figures["per-key unigram"], figures
    # Trained on a benchmark: scored there, so without it the eval refuses.
    result = CliRunner().invoke(app, ["eval", str(onnx_path)])
    assert result.exit_code != 0 and "--benchmark" in result.output


def test_the_shipped_default_model_is_scored_on_a_benchmark_as_it_would_play_it(tmp_path):
    """A corpus-trained model (the shipped default) scores any benchmark's serialised
    rolls: below a coin per key, and worse at a finer grid, where the same chords take
    more tokens to say (more SHIFTs, each a guess)."""
    model = load_token_model(model_path(DEFAULT_MODEL))
    assert model.benchmark == ""
    figures = {}
    for grid in ("quarter", "16th"):
        data = tmp_path / f"jsb-chorales-{grid}.json"
        write_jsb_json(data)
        figures[grid] = model.frame_scorer(data)(load_benchmark(data)["test"])
    assert 0 < figures["quarter"] < 88 * np.log(2)
    assert figures["16th"] != pytest.approx(figures["quarter"])
