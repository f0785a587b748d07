"""`antiphon prepare`: a MIDI folder to memory-mapped token arrays in worker processes,
the same tokens and splits as the in-memory import, and `antiphon train --data` on them."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.codec import EventCodec  # noqa: E402
from antiphon.training.data.prepared import load_prepared  # noqa: E402
from antiphon.training.evaluation.token_baselines import bigram_nll  # noqa: E402
from antiphon.training.fit.token_pipeline import prepare_splits  # noqa: E402


def test_prepared_arrays_equal_the_in_memory_import(tunes, tmp_path):
    out = tmp_path / "prepared"
    result = CliRunner().invoke(app, ["prepare", str(tunes), "--out", str(out),
                                      "--workers", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "prepared.json").read_text())
    assert summary["duplicates"] == 1 and list(summary["skipped"]) == ["tunes/broken.mid"]
    splits, _ = load_prepared(out)
    assert isinstance(splits["train"].tokens, np.memmap)  # on disk, not in RAM
    codec = EventCodec()
    expected, _ = prepare_splits([], [tunes], codec, workers=1, cache_dir=tmp_path / "cache")
    for name in ("train", "valid", "test"):
        # the same pieces in the same split; the order of files may differ by import
        got = sorted(map(tuple, (splits[name].piece(i) for i in range(splits[name].pieces))))
        want = sorted(map(tuple, (expected[name].piece(i) for i in range(expected[name].pieces))))
        assert got == want
    assert bigram_nll(splits["train"], splits["test"], codec.vocab_size) == pytest.approx(
        bigram_nll(expected["train"], expected["test"], codec.vocab_size))


def test_train_on_prepared_data(tunes, tmp_path):
    out = tmp_path / "prepared"
    assert CliRunner().invoke(app, ["prepare", str(tunes), "--out", str(out),
                                    "--workers", "1"]).exit_code == 0
    result = CliRunner().invoke(app, [
        "train", "--out", str(tmp_path / "run"), "--data", str(out), "--epochs", "1",
        "--steps-per-epoch", "10", "--hidden", "16", "--embedding", "8", "--layers", "1",
        "--batch-size", "4", "--window", "32"])
    assert result.exit_code == 0, result.output
    assert "bigram baseline" in result.output
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run2"), "--data",
                                      str(out), "--corpus", "bach"])
    assert result.exit_code != 0 and "--data replaces" in result.output
