"""The Transformer-VAE: stepping equals the sliding-window decoder, padding leaves a code
alone, relative positions make a phrase mean the same wherever it starts, threshold against
Bernoulli outputs, training, the bound, export parity, live play, and the CLI from
train-frames through eval."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training_fixtures import write_jsb_json  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.engine.pianoroll import PianoRollCodecConfig  # noqa: E402
from antiphon.engine.session import open_session  # noqa: E402
from antiphon.training.bridge import bridge  # noqa: E402
from antiphon.training.evaluation.frame_baselines import MarkovBaseline, frame_nll  # noqa: E402
from antiphon.training.export import export_frame_model  # noqa: E402
from antiphon.training.families.transformer_vae import (  # noqa: E402
    TransformerVaeConfig,
    TransformerVaeModel,
)
from antiphon.training.fit.checkpoint import load_checkpoint  # noqa: E402
from antiphon.training.fit.frame_pipeline import FrameTask, frame_nll_of  # noqa: E402
from antiphon.training.fit.loop import train_task  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

CHORDS = np.array([[0, 2, 4], [1, 3, 5]])  # on the white and the black frames of 8 keys
CODEC = PianoRollCodecConfig(keys=8, lowest_pitch=60, frames_per_beat=1,
                             distinguish_onsets=False)
TINY = {"width": 16, "heads": 2, "encoder_layers": 2, "decoder_layers": 2, "latent": 4,
        "window": 6, "dropout": 0.0}


def one_chord_pieces(pieces: int, length: int, seed: int) -> list[np.ndarray]:
    """Each piece strikes one of two chords (its own) on every other frame."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(pieces):
        roll = np.zeros((length, 8), dtype=bool)
        roll[::2, CHORDS[rng.integers(0, len(CHORDS))]] = True
        rolls.append(roll)
    return rolls


def tiny_model(seed: int = 0, **changes) -> TransformerVaeModel:
    torch.manual_seed(seed)
    return TransformerVaeModel(TransformerVaeConfig(keys=8, **{**TINY, **changes})).eval()


def as_batch(rolls: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """previous [B, T, K] (each roll shifted by one frame), frames [B, T, K]."""
    frames = torch.from_numpy(np.stack(rolls).astype(np.float32))
    return torch.cat([torch.zeros_like(frames[:, :1]), frames[:, :-1]], dim=1), frames


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("tvae")
    splits = {"train": one_chord_pieces(64, 16, 0), "valid": one_chord_pieces(16, 16, 1)}
    best = train_task(run, FrameTask(splits, CODEC),
                      {**TINY, "kl_anneal_steps": 100, "free_bits": 0.5,
                       "importance_samples": 4},
                      TrainConfig(epochs=2, steps_per_epoch=100, batch_size=16, window=16,
                                  lr=1e-2, warmup_steps=10, transpose=(0, 0)),
                      family="transformer-vae")
    return best, splits


@torch.no_grad()
@pytest.mark.parametrize("positions", ["absolute", "relative"])
def test_stepping_is_the_sliding_window_decoder(positions):
    model = tiny_model(positions=positions)
    previous, frames = as_batch(one_chord_pieces(2, 20, 3))  # 20 frames: the cache wraps
    z = torch.randn(2, 4)
    whole, _ = model.decode_logits(previous, z)  # [2, 20, 8]
    state = model.initial_state(2)
    assert [tuple(s.shape) for s in state] == [(2, 2, 8, 6), (2, 2, 6, 8)] * 2 + [(2,), (2, 4)]
    state[-1] = z
    for t in range(20):
        frame, logits, state = model.step(previous[:, t], torch.rand(2, 8), state)
        assert frame.shape == (2, 8) and set(frame.unique().tolist()) <= {0.0, 1.0}
        torch.testing.assert_close(logits, whole[:, t], atol=1e-5, rtol=1e-4)
    assert state[-2].tolist() == [20, 20] and torch.equal(state[-1], z)
    for mode in (True, False):  # a loss per frame, in training and in eval
        model.train(mode)
        assert model.frame_log_loss(previous, frames).shape == (2, 20)


@torch.no_grad()
def test_relative_positions_make_a_phrase_mean_the_same_wherever_it_starts():
    """A phrase after a rest gives the same next frame after a longer rest when positions
    are relative (the last frame reaches 2 layers x 5 frames back, all within the rests);
    absolute positions (the same weights) hear it differently."""
    phrase = one_chord_pieces(1, 8, 4)[0]
    rests = [np.concatenate([np.zeros((silent, 8), dtype=bool), phrase]) for silent in (12, 19)]
    z = torch.randn(1, 4)
    last = {}
    for positions in ("relative", "absolute"):
        model = tiny_model(positions=positions)
        last[positions] = [model.decode_logits(as_batch([roll])[0], z)[0][0, -1]
                           for roll in rests]
    torch.testing.assert_close(*last["relative"])
    assert (last["absolute"][0] - last["absolute"][1]).abs().max() > 1e-3
    assert (last["absolute"][0] - last["relative"][0]).abs().max() > 1e-3


@torch.no_grad()
def test_threshold_outputs_ignore_the_noise_and_bernoulli_draws_follow_it():
    threshold, bernoulli = tiny_model(outputs="threshold"), tiny_model(outputs="bernoulli")
    bernoulli.load_state_dict(threshold.state_dict())  # the same weights, only the draw differs
    previous = torch.zeros(1, 8).index_fill_(1, torch.from_numpy(CHORDS[0]), 1.0)
    drawn = {}
    for name, model in (("threshold", threshold), ("bernoulli", bernoulli)):
        drawn[name] = [model.step(previous, torch.full((1, 8), u), model.initial_state(1))
                       for u in (0.0, 0.3, 0.999)]
    logits = drawn["threshold"][0][1]
    torch.testing.assert_close(logits, drawn["bernoulli"][0][1])
    for frame, _, _ in drawn["threshold"]:  # p > 0.5 whatever the noise
        assert torch.equal(frame, (logits > 0).float())
    for u, (frame, _, _) in zip((0.0, 0.3, 0.999), drawn["bernoulli"], strict=True):
        assert torch.equal(frame, (u < torch.sigmoid(logits)).float())
    assert not torch.equal(drawn["bernoulli"][0][0], drawn["bernoulli"][2][0])


@torch.no_grad()
def test_padding_does_not_change_a_pieces_code():
    model = tiny_model()
    rolls = one_chord_pieces(3, 10, 2)
    rolls[1] = rolls[1][:6]  # a shorter piece, padded with silence in a batch
    batch = torch.zeros(3, 10, 8)
    for row, roll in enumerate(rolls):
        batch[row, :len(roll)] = torch.from_numpy(roll.astype(np.float32))
    together = model.encode(batch, torch.tensor([10, 6, 10]))
    for row, roll in enumerate(rolls):
        alone = model.encode(torch.from_numpy(roll[None].astype(np.float32)),
                             torch.tensor([len(roll)]))
        for mine, theirs in zip(alone, together, strict=True):
            torch.testing.assert_close(mine[0], theirs[row], atol=1e-5, rtol=1e-4)
    assert np.isfinite(frame_nll_of(model, rolls))


def test_config_refuses_unknown_switches():
    with pytest.raises(ValueError, match="positions"):
        TransformerVaeConfig(positions="rotary")
    with pytest.raises(ValueError, match="outputs"):
        TransformerVaeConfig(outputs="argmax")
    with pytest.raises(ValueError, match="multiple"):
        TransformerVaeConfig(width=12, heads=4)


@torch.no_grad()
def test_training_lowers_the_loss_and_the_bound_beats_the_floor(trained):
    best, splits = trained
    model, checkpoint = load_checkpoint(best)
    model.eval()
    fresh = TransformerVaeModel(model.config).eval()
    valid = checkpoint["metrics"]["valid_nll_per_frame"]
    assert np.isfinite(valid) and valid < frame_nll_of(fresh, splits["valid"]) - 1.0
    markov = MarkovBaseline.fit(splits["train"])
    assert valid < frame_nll([markov.predict(r) for r in splits["valid"]], splits["valid"])
    # The bound is the held-out figure: the same pieces give the same bound every time.
    assert frame_nll_of(model, splits["valid"]) == pytest.approx(valid, abs=1e-4)
    assert model.kl_weight() == 1.0 and int(model.steps) == 200


def test_export_parity_live_play_and_the_bridge(trained, tmp_path):
    best, _ = trained
    path = tmp_path / "tvae.onnx"
    card = export_frame_model(best, path, "tvae", "test", parity_steps=20)
    assert card.family == "transformer-vae"
    assert [s.input for s in card.state][-2:] == ["position_in", "z_in"]
    session = open_session(path, device="cpu", seed=0)
    session.observe([NoteEvent(0, 60, 90), NoteEvent(24, 60, 0)])
    answer = list(session.generate(48, 24 * 8))
    ons = [e for e in answer if e.velocity]
    assert ons and len(ons) == len(answer) - len(ons)  # every note-on released
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    from antiphon.training.bridge import write_events

    for file, chord in ((a, CHORDS[0]), (b, CHORDS[1])):
        write_events(file, [NoteEvent(0, 60 + int(k), 80) for k in chord]
                     + [NoteEvent(48, 60 + int(k), 0) for k in chord])
    events, _ = bridge(best, a, b, steps=2)
    assert any(e.velocity for e in events)


def test_the_threshold_graph_exports_with_parity(tmp_path):
    """The document's deterministic draw keeps the noise input every frame graph has."""
    task = FrameTask({"train": one_chord_pieces(8, 8, 0), "valid": one_chord_pieces(2, 8, 1)},
                     CODEC)
    best = train_task(tmp_path / "run", task,
                      {**TINY, "positions": "absolute", "outputs": "threshold"},
                      TrainConfig(epochs=1, steps_per_epoch=5, batch_size=4, window=8,
                                  warmup_steps=1, transpose=(0, 0)),
                      family="transformer-vae")
    card = export_frame_model(best, tmp_path / "doc.onnx", "doc", parity_steps=20)
    assert card.training["model_config"]["outputs"] == "threshold"


def test_train_frames_export_and_eval_from_the_cli(tmp_path):
    path = tmp_path / "jsb-chorales-quarter.json"
    write_jsb_json(path)
    run, onnx_path = tmp_path / "run", tmp_path / "tvae.onnx"
    runner = CliRunner()
    result = runner.invoke(app, [
        "train-frames", str(path), "--out", str(run), "--family", "transformer-vae",
        "--model-config", '{"width": 16, "heads": 2, "encoder_layers": 1, '
                          '"decoder_layers": 1, "latent": 2, "importance_samples": 2}',
        "--epochs", "1", "--steps-per-epoch", "5", "--batch-size", "4", "--window", "8"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", str(run / "best.pt"), "--out", str(onnx_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["eval", str(run / "best.pt"), str(onnx_path),
                                 "--benchmark", str(path)])
    assert result.exit_code == 0, result.output
    printed = dict(line.rsplit(": ", 1) for line in result.output.splitlines()
                   if line.count(": ") >= 1 and line.split(": ")[-1].replace(".", "").isdigit())
    recon = float(printed["reconstruction BCE per frame: transformer-vae (run)"])
    assert 0 < recon < 88 * np.log(2) * 2
    assert 0 <= float(printed["repeated frames, sampled: transformer-vae (run)"]) <= 1
    assert float(printed["repeated frames, data"]) == pytest.approx(0.0)  # chords move
