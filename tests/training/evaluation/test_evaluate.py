"""`antiphon eval`: the engine's figure equals torch's, baselines beside it, the docs table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from music_checks import arpeggios  # noqa: E402
from training_fixtures import TOLERANCE_NATS, write_jsb_json, write_tune  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.codec import EventCodec  # noqa: E402
from antiphon.training.data.benchmarks import load_benchmark  # noqa: E402
from antiphon.training.data.tokens import encode_pieces  # noqa: E402
from antiphon.training.evaluation.frame_baselines import benchmark_baselines  # noqa: E402
from antiphon.training.evaluation.held_out import (  # noqa: E402
    benchmark_name,
    evaluate_benchmark,
    first_pieces,
    load_token_model,
)
from antiphon.training.export import export_token_model  # noqa: E402
from antiphon.training.fit.loop import train  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

codec = EventCodec()


@pytest.mark.slow
@pytest.mark.parametrize("family, model_config", [
    ("recurrent", {"cell": "gru", "hidden": 32, "embedding": 16, "layers": 2}),
    # A window shorter than the pieces: stepping wraps the KV ring buffer many times.
    ("transformer", {"width": 32, "heads": 2, "layers": 2, "window": 16}),
])
def test_engine_and_torch_agree_on_the_same_model_and_pieces(tmp_path, family, model_config):
    torch.set_num_threads(1)
    splits = {"train": encode_pieces(arpeggios(30), codec),
              "valid": encode_pieces(arpeggios(3, seed=1), codec)}
    best = train(tmp_path, codec, splits, model_config,
                 TrainConfig(epochs=1, steps_per_epoch=20, batch_size=4, window=48, lr=1e-2,
                             warmup_steps=5), family=family)
    onnx_path = tmp_path / "tiny.onnx"
    export_token_model(best, onnx_path, "tiny", parity_steps=20)
    test = encode_pieces(arpeggios(4, seed=2), codec)
    assert len(test.piece(0)) > 4 * model_config.get("window", 16)

    engine_nll, engine_accuracy = load_token_model(onnx_path).score(test)
    torch_nll, torch_accuracy = load_token_model(best).score(test)
    assert engine_nll == pytest.approx(torch_nll, abs=TOLERANCE_NATS)
    assert engine_accuracy == pytest.approx(torch_accuracy, abs=0.01)  # argmax near-ties
    assert engine_nll < np.log(codec.vocab_size)  # it learnt something in 20 steps


def test_first_pieces_cuts_a_split_at_a_piece_boundary():
    split = encode_pieces(arpeggios(5), codec)
    two = first_pieces(split, 2)
    assert two.pieces == 2 and np.array_equal(two.piece(1), split.piece(1))
    assert len(two) == split.starts[2]
    assert first_pieces(split, 99) is split and first_pieces(split, None) is split
    with pytest.raises(ValueError, match="at least 1"):
        first_pieces(split, 0)


def test_a_file_that_is_no_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a model file"):
        load_token_model(tmp_path / "notes.txt")


def test_benchmark_floors_match_frame_baselines_under_both_conventions(tmp_path):
    path = tmp_path / "jsb-chorales-quarter.json"
    write_jsb_json(path)
    for skip in (False, True):
        evaluation = evaluate_benchmark(path, skip_first_frame=skip)
        expected = benchmark_baselines(path, skip_first_frame=skip)
        figures = {row.model: row.nll for row in evaluation.rows}
        assert figures["per-key unigram"] == pytest.approx(expected["unigram"])
        assert figures["per-key Markov"] == pytest.approx(expected["markov"])
    assert evaluation.dataset == "jsb"


def test_a_frame_predictor_plugs_in_beside_the_floors(tmp_path):
    path = tmp_path / "jsb-chorales-quarter.json"
    write_jsb_json(path)
    half = lambda roll: np.full(np.shape(roll), 0.5)  # noqa: E731
    evaluation = evaluate_benchmark(path, {"coin": half})
    coin = next(row for row in evaluation.rows if row.model == "coin")
    assert coin.nll == pytest.approx(88 * np.log(2))


def test_benchmark_names():
    assert benchmark_name("x/JSB_Chorales.mat") == "jsb"
    assert benchmark_name("Nottingham.mat") == "nottingham"
    assert benchmark_name("jsb-chorales-16th.json") == "jsb-16th"
    assert benchmark_name("MuseData.mat") == "MuseData"  # others by their name, as written


def test_eval_of_a_benchmark_prints_and_writes_the_docs(tmp_path):
    path = tmp_path / "jsb-chorales-quarter.json"
    write_jsb_json(path)
    docs = tmp_path / "docs"
    result = CliRunner().invoke(app, ["eval", "--benchmark", str(path), "--write-docs",
                                      str(docs)])
    assert result.exit_code == 0, result.output
    assert "per-key Markov" in result.output
    document = json.loads((docs / "MODELS.json").read_text())
    assert set(document["jsb"]) == {"per-key unigram", "per-key Markov"}
    assert document["published"]["RNN-NADE (HF)"] == {"jsb": 5.19}
    markdown = (docs / "MODELS.md").read_text()
    assert f"antiphon eval --benchmark {path.name} --write-docs {docs.name}" in markdown
    assert "| RNN-NADE (HF) |" in markdown and "[^first-frame]:" in markdown
    # The answers' section (`antiphon eval answers --markdown`) survives a new table.
    answers = "<!-- eval:answers -->\n| notes per beat | 1.9 |\n<!-- /eval:answers -->"
    # ...and so do the sections after it, each with the command that measured it.
    answers += "\n\n## A comparison\n\n`antiphon eval x.pt`\n\n| bound | 8.5 |"
    (docs / "MODELS.md").write_text("old table\n\n" + answers + "\n")
    again = CliRunner().invoke(app, ["eval", "--benchmark", str(path), "--write-docs",
                                     str(docs)])
    assert again.exit_code == 0, again.output
    markdown = (docs / "MODELS.md").read_text()
    assert "old table" not in markdown and "| RNN-NADE (HF) |" in markdown
    assert markdown.count(answers) == 1


@pytest.mark.slow
def test_eval_scores_a_checkpoint_and_its_export_on_a_midi_folder(tmp_path):
    tunes = tmp_path / "tunes"
    tunes.mkdir()
    for index in range(120):
        write_tune(tunes / f"tune{index:03d}.mid", 55 + index % 12, bars=2 + index // 12)
    runner = CliRunner()
    run_dir = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--out", str(run_dir), "--midi-dir", str(tunes), "--epochs", "1",
        "--steps-per-epoch", "10", "--hidden", "32", "--embedding", "16", "--layers", "1",
        "--batch-size", "4", "--window", "32", "--workers", "1", "--threads", "1",
    ])
    assert result.exit_code == 0, result.output
    onnx_path = tmp_path / "tunes.onnx"
    assert runner.invoke(app, ["export", str(run_dir / "best.pt"), "--out",
                               str(onnx_path)]).exit_code == 0
    docs = tmp_path / "docs"
    result = runner.invoke(app, ["eval", str(onnx_path), str(run_dir / "best.pt"),
                                 "--midi-dir", str(tunes), "--workers", "1",
                                 "--write-docs", str(docs)])
    assert result.exit_code == 0, result.output
    figures = json.loads((docs / "MODELS.json").read_text())["tunes"]
    # A checkpoint's row: its cell and its run folder.
    assert figures["tunes"] == pytest.approx(figures["lstm (run)"], abs=TOLERANCE_NATS)
    assert {"unigram (tokens)", "bigram (tokens)"} <= set(figures)
    result = runner.invoke(app, ["eval", str(onnx_path), "--midi-dir", str(tunes),
                                 "--limit", "1", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "1 pieces" in result.output and "bigram (tokens)" in result.output


def test_eval_refuses_limit_with_write_docs(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--limit", "3", "--write-docs", str(tmp_path)])
    assert result.exit_code == 2
    assert "--limit" in result.output


def test_a_frame_model_is_scored_through_the_engine_as_torch_scores_it(tmp_path):
    """The exported RNN-NADE, stepped by the engine with the draw forced to the true
    frame, gives the frame NLL its checkpoint gives through torch (and training recorded)."""
    from antiphon.training.export import export_frame_model
    from antiphon.training.fit.frame_pipeline import train_on_benchmark

    path = tmp_path / "jsb-chorales-quarter.json"
    write_jsb_json(path)
    metrics = train_on_benchmark(
        str(path), str(tmp_path / "run"), {"hidden": 16, "nade_hidden": 8, "dropout": 0.0},
        TrainConfig(epochs=1, steps_per_epoch=100, batch_size=4, window=8, lr=1e-2,
                    warmup_steps=5, transpose=(0, 0)))
    best = tmp_path / "run" / "best.pt"
    onnx_path = tmp_path / "nade.onnx"
    export_frame_model(best, onnx_path, "tiny-nade", parity_steps=10)
    result = CliRunner().invoke(app, ["eval", str(best), str(onnx_path), "--benchmark",
                                      str(path), "--write-docs", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "docs" / "MODELS.json").read_text())["jsb"]
    torch_row = "rnn-nade (run)"  # a checkpoint's row: its family and its run folder
    assert figures[torch_row] == pytest.approx(metrics["test_nll_per_frame"],
                                               abs=TOLERANCE_NATS)
    assert figures["tiny-nade"] == pytest.approx(figures[torch_row], abs=TOLERANCE_NATS)
    assert figures["tiny-nade"] < 88 * np.log(2) / 2  # learned something: far below a coin
    notes = json.loads((tmp_path / "docs" / "MODELS.json").read_text())["notes"]["jsb"]
    assert notes["notes per frame: test data"] == pytest.approx(3.0)  # three-note chords
    assert notes["notes per frame: rnn-nade (run) samples"] > 0
    # What the export draws through the engine is what the checkpoint draws (other noise).
    from antiphon.engine.model import StepModel
    from antiphon.training.evaluation.note_density import onnx_note_density
    from antiphon.training.fit.checkpoint import load_checkpoint
    from antiphon.training.fit.frame_pipeline import note_density

    primers = load_benchmark(path)["test"]
    through_engine = onnx_note_density(StepModel(onnx_path), primers, 200)
    through_torch = note_density(load_checkpoint(best)[0], primers, 200)
    assert 1.0 < through_engine < 6.0, (through_engine, through_torch)
    assert through_engine == pytest.approx(through_torch, abs=0.3)
    # A frame model without its benchmark cannot be scored: said, not skipped silently.
    result = CliRunner().invoke(app, ["eval", str(onnx_path)])
    assert result.exit_code != 0 and "--benchmark" in result.output
