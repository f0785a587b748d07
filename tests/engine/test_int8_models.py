"""int8 copies of step graphs (training/quantize.py, `antiphon export SOURCE.onnx --precision
int8`): the card comes along marked int8, the copy plays one row and a batch of rows as its
source does, and what quantising cost in NLL is measured and held to a bound."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest
from engine_fixtures import edit_card_json, rewrite_card
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.engine.card import ModelLoadError
from antiphon.engine.events import NoteEvent
from antiphon.engine.model import StepModel
from antiphon.engine.session import Engine

pytest.importorskip("onnx")
quantize = pytest.importorskip("antiphon.training.quantize")


@pytest.fixture(scope="module")
def int8_pair(tiny_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "tiny-int8.onnx"
    card, gap = quantize.quantise_step_graph(tiny_model_path, out)
    return tiny_model_path, out, card, gap


def test_the_copy_keeps_the_card_and_says_int8(int8_pair):
    source, out, card, _ = int8_pair
    before, after = StepModel(source, device="cpu").card, StepModel(out, device="cpu").card
    assert before.precision == "float32" and after.precision == "int8" and card == after
    assert replace(after, precision="float32") == before  # nothing else on the card moved
    assert quantize.weight_bytes(out) < quantize.weight_bytes(source) / 2


def test_the_nll_gap_is_measured_and_small(int8_pair):
    _, _, _, gap = int8_pair
    assert gap.steps == quantize.NLL_STEPS
    assert gap.source > 0 and gap.copy > 0 and gap.worst_logit_gap > 0  # int8 rounds
    assert abs(gap.gap) <= quantize.MAX_NLL_GAP
    same = quantize.nll_gap(int8_pair[0], int8_pair[0], steps=20)
    assert same.gap == 0 and same.worst_logit_gap == 0


def test_a_bound_the_copy_misses_writes_nothing(int8_pair, tmp_path):
    source = int8_pair[0]
    out = tmp_path / "strict.onnx"
    with pytest.raises(quantize.QuantiseError, match="nats per step"):
        quantize.quantise_step_graph(source, out, max_nll_gap=-1.0, nll_steps=20)
    assert list(tmp_path.iterdir()) == []


def test_the_copy_plays_and_steps_in_batches(int8_pair):
    _, out, _, _ = int8_pair
    session = Engine.load(out).new_session(seed=0)
    session.observe([NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)])
    assert any(event.velocity for event in session.generate(24, 96))
    model = StepModel(out, device="cpu")
    assert model.batch_axes is not None
    vocab = model.card.vocab_size
    state = model.batch_state(model.initial_state(), 4)
    uniform = np.random.default_rng(0).random((4, vocab), dtype=np.float32)
    samples, logits, state = model.step_batch(np.zeros(4, np.int64), state, 1.0, uniform,
                                              np.zeros((4, vocab), np.float32))
    assert samples.shape == (4,) and logits.shape == (4, vocab)
    assert quantize.int8_batch_gap(out) <= quantize.INT8_BATCH_TOLERANCE


def test_a_frame_model_copies_too(chord_model_path, tmp_path):
    out = tmp_path / "chords-int8.onnx"
    card, gap = quantize.quantise_step_graph(chord_model_path, out, nll_steps=50)
    assert card.precision == "int8" and card.representation == "pianoroll"
    assert abs(gap.gap) <= quantize.MAX_NLL_GAP and gap.source > 0
    # The NADE's products by a weight vector (one a key) stay float32, the matrices go int8.
    source_ops = [node.op_type for node in onnx.load(str(chord_model_path)).graph.node]
    copied_ops = [node.op_type for node in onnx.load(str(out)).graph.node]
    vectors = len(quantize.vector_products(onnx.load(str(chord_model_path))))
    assert vectors == 8 and copied_ops.count("MatMul") == vectors
    assert copied_ops.count("MatMulInteger") == source_ops.count("MatMul") - vectors
    model = StepModel(out, device="cpu")
    keys = model.card.vocab_size
    frame, _, _ = model.step_frame(np.zeros((1, keys), np.float32), model.initial_state(), 1.0,
                                   np.full((1, keys), 0.5, np.float32), np.zeros(keys, np.float32))
    assert frame.shape == (1, keys)


def test_the_eval_row_says_the_precision(int8_pair):
    from antiphon.training.evaluation.held_out import load_token_model

    source, out, _, _ = int8_pair
    assert load_token_model(source).name == "tiny"
    assert load_token_model(out).name == "tiny (int8)"


def test_a_card_with_an_unknown_precision_is_refused(tiny_model_path, tmp_path):
    bad = tmp_path / "bad.onnx"
    rewrite_card(tiny_model_path, bad,
                 edit_card_json(lambda card: card.update(precision="int4")))
    with pytest.raises(ModelLoadError, match="card field precision 'int4' is not one of"):
        StepModel(bad, device="cpu")


def test_a_card_without_precision_reads_as_float32(tiny_model_path, tmp_path):
    older = tmp_path / "older.onnx"
    rewrite_card(tiny_model_path, older, edit_card_json(lambda card: card.pop("precision")))
    assert StepModel(older, device="cpu").card.precision == "float32"


def test_export_copies_a_graph_in_int8_from_the_cli(tiny_model_path, tmp_path):
    out = tmp_path / "copy.onnx"
    result = CliRunner().invoke(app, ["export", str(tiny_model_path), "--precision", "int8",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "weights int8" in result.output and "nats/token" in result.output
    assert StepModel(out, device="cpu").card.precision == "int8"
    assert StepModel(out, device="cpu").card.name == "tiny"  # the source's card, unrenamed
    renamed = tmp_path / "renamed.onnx"
    result = CliRunner().invoke(app, ["export", str(tiny_model_path), "--precision", "int8",
                                      "--out", str(renamed), "--name", "renamed"])
    assert result.exit_code == 0, result.output
    assert StepModel(renamed, device="cpu").card.name == "renamed"
    again = CliRunner().invoke(app, ["export", str(out), "--precision", "int8",
                                     "--out", str(tmp_path / "twice.onnx")])
    assert again.exit_code == 1 and "already int8" in again.output


@pytest.mark.parametrize(("arguments", "said"), [
    (["--precision", "float16"], "--precision must be one of float32, int8"),
    ([], "already an exported graph"),
])
def test_export_of_a_graph_refuses_what_it_cannot_do(tiny_model_path, tmp_path, arguments, said):
    result = CliRunner().invoke(app, ["export", str(tiny_model_path), *arguments,
                                      "--out", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split())
    assert not (tmp_path / "x.onnx").exists()


def test_export_writes_a_checkpoint_in_int8(tiny_model_path, tmp_path):
    checkpoint = tiny_model_path.parent / "best.pt"  # the fixture's run: its best checkpoint
    out = tmp_path / "tiny8.onnx"
    result = CliRunner().invoke(app, ["export", str(checkpoint), "--precision", "int8",
                                      "--out", str(out), "--name", "tiny8"])
    assert result.exit_code == 0, result.output
    card = StepModel(out, device="cpu").card
    assert card.precision == "int8" and card.name == "tiny8"
    assert "wrote the float32 graph: lstm" in " ".join(result.output.split())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny8.onnx"]  # no float copy
