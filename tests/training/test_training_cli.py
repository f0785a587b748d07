"""`antiphon train` and `antiphon export` from the command line, on a folder of MIDI files."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from training_fixtures import write_tune  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.engine.session import Engine  # noqa: E402


@pytest.mark.slow
def test_train_then_export_then_play(tmp_path):
    tunes = tmp_path / "tunes"
    tunes.mkdir()
    for index in range(120):  # distinct tunes (copies are dropped), enough for every split
        write_tune(tunes / f"tune{index:03d}.mid", 55 + index % 12, bars=2 + index // 12)
    (tunes / "broken.mid").write_bytes(b"MThd garbage")  # skipped, never fatal
    runner = CliRunner()
    run_dir = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--out", str(run_dir), "--midi-dir", str(tunes),
        "--epochs", "1", "--steps-per-epoch", "30", "--hidden", "48", "--embedding", "16",
        "--layers", "1", "--batch-size", "8", "--window", "64", "--workers", "1",
    ])
    assert result.exit_code == 0, result.output
    assert "bigram baseline" in result.output and "epoch   1" in result.output
    model_path = tmp_path / "scales.onnx"
    result = runner.invoke(app, ["export", str(run_dir / "best.pt"), "--out", str(model_path),
                                 "--description", "scales"])
    assert result.exit_code == 0, result.output
    engine = Engine.load(model_path)
    assert engine.card.name == "scales" and engine.card.training["data"]["skipped_files"] == 1
    session = engine.new_session(seed=0)
    session.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)])
    assert any(e.velocity for e in session.generate(24, 96))


def test_a_bad_corpus_name_fails_clearly(tmp_path):
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path), "--corpus", ""])
    assert result.exit_code == 1
    assert "not a music21 corpus name" in result.output


def test_export_of_a_missing_checkpoint_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short path: the error box would wrap a long one
    result = CliRunner().invoke(app, ["export", "nope.pt"])
    assert result.exit_code != 0
    assert "does not exist" in result.output


@pytest.mark.slow
def test_a_transformer_trains_exports_and_plays_from_the_cli(tmp_path):
    tunes = tmp_path / "tunes"
    tunes.mkdir()
    for index in range(60):
        write_tune(tunes / f"tune{index:03d}.mid", 55 + index % 12, bars=2 + index // 12)
    runner = CliRunner()
    run_dir = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--out", str(run_dir), "--midi-dir", str(tunes), "--family", "transformer",
        "--width", "32", "--heads", "2", "--layers", "1", "--attention-window", "32",
        "--epochs", "1", "--steps-per-epoch", "5", "--batch-size", "4", "--window", "48",
        "--workers", "1", "--threads", "1",
    ])
    assert result.exit_code == 0, result.output
    assert "training a transformer model" in result.output
    model_path = tmp_path / "tiny.onnx"
    result = runner.invoke(app, ["export", str(run_dir / "best.pt"), "--out", str(model_path)])
    assert result.exit_code == 0, result.output
    engine = Engine.load(model_path)
    assert engine.card.family == "transformer"
    assert engine.card.training["model_config"]["window"] == 32
    session = engine.new_session(seed=0)
    session.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)])
    assert session.generate(24, 96) is not None


@pytest.mark.parametrize("options, message", [
    (["--family", "transformer", "--cell", "gru"], "no option --cell"),
    (["--attention-window", "64"], "no option --attention-window"),
    (["--family", "markov"], "unknown model family"),
    (["--family", "rnn-nade"], "not a token family"),  # a frame family: trained elsewhere
])
def test_options_of_another_family_are_refused(tmp_path, options, message):
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path), *options])
    assert result.exit_code == 2
    assert message in result.output


def test_left_out_model_options_are_the_familys_defaults():
    from dataclasses import asdict

    from antiphon.training.commands import family_model_config
    from antiphon.training.families.token_configs import TOKEN_FAMILY_DEFAULTS

    for family, defaults in TOKEN_FAMILY_DEFAULTS.items():
        expected = {**asdict(defaults)}
        del expected["vocab_size"]  # the codec's
        assert family_model_config(family, {"layers": None}) == expected
    recurrent = family_model_config("recurrent", {"hidden": 64, "cell": None})
    assert recurrent["hidden"] == 64 and recurrent["dropout"] == 0.2  # the shipped LSTM's
    assert family_model_config("transformer", {"attention_window": 64})["window"] == 64
