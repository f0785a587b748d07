"""Token data, baselines, training, checkpoints and export, on small real runs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from music_checks import arpeggios  # noqa: E402

from antiphon.engine.codec import EventCodec  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.engine.model import StepModel  # noqa: E402
from antiphon.training import export as export_module  # noqa: E402
from antiphon.training.data.tokens import (  # noqa: E402
    encode_pieces,
    sample_windows,
    transpose_windows,
)
from antiphon.training.evaluation.token_baselines import bigram_nll, unigram_nll  # noqa: E402
from antiphon.training.export import ExportError, export_token_model  # noqa: E402
from antiphon.training.fit.checkpoint import load_checkpoint  # noqa: E402
from antiphon.training.fit.loop import evaluate, train  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

codec = EventCodec()


def test_token_transposition_equals_encoding_the_transposed_events():
    events = arpeggios(1)[0]
    tokens = encode_pieces([events], codec).tokens.astype(np.int64)[None, :]
    up = [NoteEvent(e.tick, e.pitch + 5, e.velocity) for e in events]
    expected = encode_pieces([up], codec).tokens
    assert np.array_equal(transpose_windows(codec, tokens, np.array([5]))[0], expected)


def test_transposition_that_leaves_the_keyboard_is_not_applied():
    tokens = encode_pieces([[NoteEvent(0, 125, 80), NoteEvent(6, 125, 0)]], codec).tokens
    windows = tokens.astype(np.int64)[None, :]
    assert np.array_equal(transpose_windows(codec, windows, np.array([5])), windows)


def test_windows_are_inputs_and_targets_from_the_stream():
    split = encode_pieces(arpeggios(5), codec)
    windows = sample_windows(split, 4, 32, np.random.default_rng(0), codec)
    assert windows.shape == (4, 33)
    joined = split.tokens.astype(np.int64)
    for window in windows:
        start = next(i for i in range(len(joined)) if np.array_equal(joined[i:i + 33], window))
        assert start >= 0


def test_baselines_on_a_known_stream():
    # One piece "BOS a b a b ...": unigram is 1 bit (ln 2) per token, bigram is ~certain.
    a, b = codec.note_on_base + 60, codec.note_off_base + 60
    split = encode_pieces([[]], codec)
    split.tokens = np.array([codec.bos] + [a, b] * 50_000, np.int16)
    split.starts = np.array([0, len(split.tokens)])
    assert unigram_nll(split, split, codec.vocab_size) == pytest.approx(np.log(2), abs=0.01)
    assert bigram_nll(split, split, codec.vocab_size) < 0.2


@pytest.mark.slow
def test_training_learns_resumes_and_exports(tmp_path):
    splits = {"train": encode_pieces(arpeggios(60), codec),
              "valid": encode_pieces(arpeggios(6, seed=1), codec)}
    config = TrainConfig(epochs=2, steps_per_epoch=60, batch_size=8, window=64,
                         warmup_steps=10, lr=1e-2)
    model_config = {"hidden": 64, "embedding": 32, "layers": 1}
    reports = []
    best = train(tmp_path, codec, splits, model_config, config, on_epoch=reports.append)
    assert [r.epoch for r in reports] == [1, 2]
    uniform = np.log(codec.vocab_size)
    assert reports[-1].valid_nll < 0.5 * uniform  # arpeggios are very predictable

    # resume: two more epochs continue from the latest checkpoint
    config.epochs = 4
    more = []
    train(tmp_path, codec, splits, model_config, config, on_epoch=more.append)
    assert [r.epoch for r in more] == [3, 4]

    model, checkpoint = load_checkpoint(best)
    assert checkpoint["model_config"]["hidden"] == 64 and checkpoint["codec"]["version"] == 1
    nll, accuracy = evaluate(model, splits["valid"])
    assert nll == pytest.approx(checkpoint["metrics"]["valid_nll_per_token"], rel=1e-4)

    onnx_path = tmp_path / "arp.onnx"
    card = export_token_model(best, onnx_path, "arp", "arpeggios")
    assert StepModel(onnx_path).card == card
    assert card.metrics["valid_nll_per_token"] == checkpoint["metrics"]["valid_nll_per_token"]


@pytest.mark.slow
def test_export_fails_and_leaves_nothing_when_parity_fails(tmp_path, monkeypatch):
    splits = {"train": encode_pieces(arpeggios(20), codec),
              "valid": encode_pieces(arpeggios(3, seed=1), codec)}
    best = train(tmp_path, codec, splits, {"hidden": 32, "embedding": 16, "layers": 1},
                 TrainConfig(epochs=1, steps_per_epoch=5, batch_size=4, window=32))
    monkeypatch.setattr(export_module, "PARITY_TOLERANCE", -1.0)  # nothing can pass
    with pytest.raises(ExportError, match="differ"):
        export_token_model(best, tmp_path / "out.onnx", "x")
    assert not list(tmp_path.glob("*.onnx"))
