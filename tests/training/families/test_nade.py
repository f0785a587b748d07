"""RNN-NADE: exact likelihood, normalisation, training through the shared loop, export."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from antiphon.engine.card import ModelCard  # noqa: E402
from antiphon.engine.pianoroll import PianoRollCodecConfig  # noqa: E402
from antiphon.training import export as export_module  # noqa: E402
from antiphon.training.evaluation.frame_baselines import baseline_nlls  # noqa: E402
from antiphon.training.export import ExportError, export_frame_model  # noqa: E402
from antiphon.training.families.rnn_nade import NadeConfig, RnnNadeModel  # noqa: E402
from antiphon.training.fit.checkpoint import load_checkpoint  # noqa: E402
from antiphon.training.fit.frame_pipeline import (  # noqa: E402
    FrameTask,
    frame_nll_of,
    sample_crops,
    transpose_rolls,
)
from antiphon.training.fit.loop import train_task  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402


def tiny_model(keys: int, seed: int = 0) -> RnnNadeModel:
    torch.manual_seed(seed)
    model = RnnNadeModel(NadeConfig(keys=keys, hidden=6, nade_hidden=5, dropout=0.0)).eval()
    with torch.no_grad():  # large enough weights that keys really depend on each other
        model.encoder.normal_(0.0, 1.5)
        model.decoder.normal_(0.0, 1.5)
    return model


def reference_frame_nll(model: RnnNadeModel, previous: torch.Tensor, frames: torch.Tensor):
    """-log p(frame) [B, T] by the definition: one key at a time, each hidden layer anew."""
    visible_bias, hidden_bias, _ = model.conditioning(previous)
    batch, steps, keys = frames.shape
    out = torch.zeros(batch, steps, dtype=torch.float64)
    for b, t in itertools.product(range(batch), range(steps)):
        total = 0.0
        for i in range(keys):
            activation = hidden_bias[b, t].clone()
            for j in range(i):
                activation += frames[b, t, j] * model.encoder[j]
            hidden = torch.sigmoid(activation)
            p = torch.sigmoid(visible_bias[b, t, i] + hidden @ model.decoder[i])
            total -= math.log(p if frames[b, t, i] else 1.0 - p)
        out[b, t] = total
    return out


def chord_rolls(pieces: int, length: int, seed: int) -> list[np.ndarray]:
    """Every frame one of four 3-note chords on 8 keys, drawn at random: the keys of a
    frame are strongly tied to each other, which per-key models cannot capture."""
    chords = np.array([[0, 2, 4], [1, 3, 5], [2, 4, 6], [3, 5, 7]])
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(pieces):
        roll = np.zeros((length, 8), dtype=bool)
        roll[np.arange(length)[:, None], chords[rng.integers(0, 4, size=length)]] = True
        rolls.append(roll)
    return rolls


def test_nll_equals_the_sum_of_the_per_key_conditionals():
    model = tiny_model(keys=5)
    frames = torch.from_numpy(np.random.default_rng(1).random((2, 3, 5)) < 0.4).float()
    previous = torch.cat([torch.zeros(2, 1, 5), frames[:, :-1]], dim=1)
    with torch.no_grad():
        fast = model.frame_log_loss(previous, frames)
        slow = reference_frame_nll(model, previous, frames)
    assert torch.allclose(fast.double(), slow, atol=1e-5)


def test_probabilities_of_all_frames_sum_to_one():
    model = tiny_model(keys=4)
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))  # [16, 4]
    previous = torch.tensor([[1.0, 0.0, 1.0, 1.0]]).expand(16, 4)
    with torch.no_grad():
        nll = model.frame_log_loss(previous[:, None], every[:, None])  # [16, 1]
    assert float(torch.exp(-nll.double()).sum()) == pytest.approx(1.0, abs=1e-6)


def test_sampling_follows_the_teacher_forced_conditionals():
    model = tiny_model(keys=6)
    state = model.initial_state(1)
    previous = torch.zeros(1, 6)
    with torch.no_grad():
        frame, logits, _ = model.step(previous, torch.rand(1, 6), state)
        visible_bias, hidden_bias, _ = model.conditioning(previous[:, None], state)
        forced = model.key_logits(frame[:, None], visible_bias, hidden_bias)[:, 0]
    assert torch.allclose(logits, forced, atol=1e-5)
    assert set(frame.unique().tolist()) <= {0.0, 1.0}


def test_crops_and_transposition_keep_frames_in_order():
    rolls = chord_rolls(3, 20, seed=0)
    inputs, targets, mask = sample_crops(rolls, 4, 8, np.random.default_rng(0))
    assert inputs.shape == targets.shape == (4, 8, 8) and mask.all()
    assert np.array_equal(inputs[:, 1:], targets[:, :-1])  # input t is frame t - 1
    low = np.zeros((5, 8), dtype=bool)
    low[:, [0, 2]] = True
    up = transpose_rolls([low], np.array([1]))[0]
    assert np.array_equal(np.flatnonzero(up.any(axis=0)), [1, 3])
    assert transpose_rolls([low], np.array([6]))[0] is low  # key 2 would leave the keyboard


@pytest.mark.slow
def test_training_beats_the_per_key_floors_resumes_and_exports(tmp_path):
    splits = {"train": chord_rolls(40, 32, seed=0), "valid": chord_rolls(8, 32, seed=1)}
    codec = PianoRollCodecConfig(keys=8, lowest_pitch=60, distinguish_onsets=False)
    task = FrameTask(splits, codec)
    config = TrainConfig(epochs=2, steps_per_epoch=60, batch_size=8, window=32, lr=1e-2,
                         warmup_steps=10, transpose=(0, 0))
    model_config = {"hidden": 32, "nade_hidden": 24, "dropout": 0.0}
    reports = []
    best = train_task(tmp_path, task, model_config, config, family="rnn-nade",
                      on_epoch=reports.append)
    floors = baseline_nlls(splits["train"], splits["valid"])
    assert reports[-1].unit == "frame"
    assert reports[-1].valid_nll < floors["markov"] - 2.0  # ~ln 4 = 1.39 is reachable
    assert floors["markov"] > 4.0

    config.epochs = 3  # resume: one more epoch from latest.pt
    more = []
    train_task(tmp_path, task, model_config, config, family="rnn-nade", on_epoch=more.append)
    assert [r.epoch for r in more] == [3]

    model, checkpoint = load_checkpoint(best)
    assert checkpoint["model_config"]["keys"] == 8 and checkpoint["codec"]["keys"] == 8
    assert frame_nll_of(model, splits["valid"]) == pytest.approx(
        checkpoint["metrics"]["valid_nll_per_frame"], rel=1e-5)

    card = export_frame_model(best, tmp_path / "chords.onnx", "chords", "chord test")
    assert card.representation == "pianoroll" and card.vocab_size == 8
    import onnx

    stored = {p.key: p.value for p in onnx.load(str(tmp_path / "chords.onnx")).metadata_props}
    assert ModelCard.from_json(stored["antiphon_card"]) == card


@pytest.mark.slow
def test_frame_export_fails_and_leaves_nothing_when_parity_fails(tmp_path, monkeypatch):
    splits = {"train": chord_rolls(4, 16, seed=0), "valid": chord_rolls(2, 16, seed=1)}
    task = FrameTask(splits, PianoRollCodecConfig(keys=8, lowest_pitch=60))
    best = train_task(tmp_path, task, {"hidden": 8, "nade_hidden": 4}, TrainConfig(
        epochs=1, steps_per_epoch=2, batch_size=2, window=16, transpose=(0, 0)),
        family="rnn-nade")
    monkeypatch.setattr(export_module, "PARITY_TOLERANCE", -1.0)  # nothing can pass
    with pytest.raises(ExportError, match="differ"):
        export_frame_model(best, tmp_path / "out.onnx", "x")
    assert not list(tmp_path.glob("*.onnx"))
