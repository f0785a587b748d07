"""The bar GAN: shapes, the conditioner at work, its two players learning, export parity,
and a step graph that makes a new bar every bar_frames steps from the bar before it; and
the CLI from train-frames to export."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.model import StepModel  # noqa: E402
from antiphon.engine.pianoroll import PianoRollCodecConfig  # noqa: E402
from antiphon.training.evaluation.bar_answers import (  # noqa: E402
    bar_answer_table,
    bar_repeats,
    roll_notes,
)
from antiphon.training.export import export_frame_model  # noqa: E402
from antiphon.training.families.bar_gan import BarGanConfig, BarGanModel  # noqa: E402
from antiphon.training.fit.checkpoint import load_checkpoint, read_checkpoint  # noqa: E402
from antiphon.training.fit.frame_pipeline import FrameTask  # noqa: E402
from antiphon.training.fit.gan_loop import (  # noqa: E402
    bar_check,
    gan_losses,
    optimizers,
    sample_bar_pairs,
    train_step,
)
from antiphon.training.fit.loop import train_task  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

KEYS, FRAMES = 12, 8
TINY = {"bar_frames": FRAMES, "noise": 4, "width": 8, "critic_width": 8}
CODEC = PianoRollCodecConfig(keys=KEYS, lowest_pitch=60, frames_per_beat=2,
                             distinguish_onsets=False)
TRIADS = np.array([[0, 4, 7], [2, 5, 9], [4, 7, 11]])


def triad_rolls(count: int, length: int, seed: int) -> list[np.ndarray]:
    """Pieces of triads, each held for two frames."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(count):
        roll = np.zeros((length, KEYS), dtype=bool)
        for frame in range(0, length, 2):
            roll[frame:frame + 2, TRIADS[rng.integers(0, len(TRIADS))]] = True
        rolls.append(roll)
    return rolls


def tiny_model(seed: int = 0) -> BarGanModel:
    torch.manual_seed(seed)
    return BarGanModel(BarGanConfig(keys=KEYS, **TINY))


def test_the_parts_have_the_shapes_of_a_bar():
    model = tiny_model()
    previous = torch.zeros(3, FRAMES, KEYS)
    z = model.sample_noise(3)
    assert z.shape == (3, 4) and float(z.min()) >= -1 and float(z.max()) <= 1
    assert model.generate_logits(z, previous).shape == (3, FRAMES, KEYS)
    logit, features = model.discriminator(previous, previous)
    assert logit.shape == (3,) and features.ndim == 2 and len(features) == 3
    assert model.answer(previous, bars=2).shape == (3, 2 * FRAMES, KEYS)
    frame, logits, state = model.step(torch.zeros(1, KEYS), torch.rand(1, KEYS),
                                      model.initial_state(1))
    assert frame.shape == logits.shape == (1, KEYS)
    assert [tuple(s.shape) for s in state] == [(1, FRAMES, KEYS), (1, FRAMES, KEYS), (1, 1)]
    with pytest.raises(ValueError, match="noise"):
        BarGanConfig(keys=8, noise=9)
    with pytest.raises(ValueError, match="bar_frames"):
        BarGanConfig(bar_frames=12)


def test_the_previous_bar_changes_the_bar_made():
    model = tiny_model()
    z = model.sample_noise(1).expand(2, -1)
    previous = torch.from_numpy(np.stack(triad_rolls(2, FRAMES, seed=1))).float()
    previous[1] = torch.roll(previous[0], 2, dims=-1)  # the same bar a tone higher
    bars = model.generate_logits(z, previous)
    assert not torch.allclose(bars[0], bars[1], atol=1e-4)
    again = model.generate_logits(z, previous[[0, 0]])
    assert torch.allclose(again[0], again[1])  # same noise, same previous: same bar


def test_pairs_are_a_bar_and_the_bar_before_it():
    roll = ((np.arange(1, 21)[:, None] >> np.arange(KEYS)) & 1).astype(bool)  # frame t: t + 1
    previous, bars = sample_bar_pairs([roll], 16, FRAMES, np.random.default_rng(0))
    for before, bar in zip(previous, bars, strict=True):
        start = next(s for s in range(20) if np.array_equal(roll[s:s + FRAMES], bar))
        expected = np.zeros((FRAMES, KEYS), dtype=np.float32)
        head = roll[max(0, start - FRAMES):start]
        expected[FRAMES - len(head):] = head
        assert np.array_equal(before, expected)  # zeros before the piece's first frame


def test_the_discriminator_learns_and_the_generator_follows_the_data():
    model = tiny_model()
    rolls = triad_rolls(16, 32, seed=2)
    rng = np.random.default_rng(0)
    previous, real = (torch.from_numpy(a) for a in sample_bar_pairs(rolls, 16, FRAMES, rng))
    model.config.discriminator_lr = 1e-2
    optimizer = optimizers(model)
    first, _ = gan_losses(model, previous, real)
    for _ in range(30):  # D alone, on one batch: it must tell G's bars from real ones
        d_loss, _ = gan_losses(model, previous, real)
        optimizer["discriminator"].zero_grad()
        d_loss.backward()
        optimizer["discriminator"].step()
    assert d_loss.item() < 0.8 * first.item()

    model = tiny_model()
    model.config.generator_lr = model.config.discriminator_lr = 2e-3
    optimizer = optimizers(model)
    before = bar_check(model, rolls)
    for _ in range(60):
        previous, real = sample_bar_pairs(rolls, 16, FRAMES, rng)
        train_step(model, optimizer, torch.from_numpy(previous), torch.from_numpy(real))
    after = bar_check(model, rolls)
    gap = abs(after["notes_per_frame_generated"] - after["notes_per_frame_real"])
    assert gap < abs(before["notes_per_frame_generated"] - before["notes_per_frame_real"])


def test_the_discriminator_learns_whether_a_bar_follows_its_previous_bar():
    model = tiny_model()
    model.config.discriminator_lr = 1e-2
    optimizer = optimizers(model)["discriminator"]
    rolls = []
    for chord in TRIADS:  # each piece holds one triad: its bars follow only their own
        roll = np.zeros((24, KEYS), dtype=bool)
        roll[:, chord] = True
        rolls.append(roll)
    rng = np.random.default_rng(0)
    for _ in range(60):
        previous, real = (torch.from_numpy(a) for a in sample_bar_pairs(rolls, 12, FRAMES, rng))
        d_loss, _ = gan_losses(model, previous, real)
        optimizer.zero_grad()
        d_loss.backward()
        optimizer.step()
    bars = torch.from_numpy(np.stack([roll[FRAMES:2 * FRAMES] for roll in rolls])).float()
    with torch.no_grad():
        matched, _ = model.discriminator(bars, bars)  # each triad after itself
        mismatched, _ = model.discriminator(bars, bars.roll(1, dims=0))
    assert float(matched.min()) > float(mismatched.max())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny bar GAN trained through the one training entry point, and its export."""
    folder = tmp_path_factory.mktemp("bar-gan")
    task = FrameTask({"train": triad_rolls(12, 24, 3), "valid": triad_rolls(3, 24, 4)}, CODEC)
    best = train_task(folder / "run", task, TINY,
                      TrainConfig(epochs=2, steps_per_epoch=10, batch_size=8,
                                  transpose=(0, 0)), family="bar-gan")
    onnx_path = folder / "gan.onnx"
    export_frame_model(best, onnx_path, "gan-test", parity_steps=3 * FRAMES)
    return best, onnx_path


def test_training_writes_checkpoints_that_resume_and_export(trained):
    best, onnx_path = trained
    model, checkpoint = load_checkpoint(best)
    assert checkpoint["family"] == "bar-gan" and isinstance(model, BarGanModel)
    assert checkpoint["epoch"] == 2 and len(checkpoint["metrics"]["history"]) == 2
    assert set(checkpoint["optimizer"]) == {"generator", "discriminator"}
    latest = read_checkpoint(best.parent / "latest.pt")
    assert latest["epoch"] == 2
    card = StepModel(onnx_path, device="cpu").card
    assert card.family == "bar-gan" and card.vocab_size == KEYS
    assert [s.input for s in card.state] == ["previous_bar_in", "bar_in", "position_in"]


def test_the_step_graph_makes_a_new_bar_each_bar_from_the_one_before(trained):
    best, onnx_path = trained
    model, _ = load_checkpoint(best)
    model.eval()
    graph = StepModel(onnx_path, device="cpu")
    rng = np.random.default_rng(5)
    state, frame = graph.initial_state(), np.zeros((1, KEYS), dtype=np.float32)
    played, uniforms, bars = [], [], []
    bias = np.zeros(KEYS, dtype=np.float32)
    for _ in range(4 * FRAMES):
        uniform = rng.random((1, KEYS), dtype=np.float32)
        sample, logits, state = graph.step_frame(frame, state, 1.0, uniform, bias)
        assert np.array_equal(sample, (logits > 0).astype(np.float32))  # thresholded
        played.append(sample[0])
        uniforms.append(uniform)
        bars.append(state[1].copy())
        frame = sample.astype(np.float32)
    for step in range(1, 4 * FRAMES):  # the bar is made at a bar's first step only
        assert np.array_equal(bars[step], bars[step - 1]) == (step % FRAMES != 0)
    played = np.array(played)
    for bar in range(1, 4):  # each bar: G on that step's noise, after the bar played before
        start = bar * FRAMES
        z = torch.from_numpy(uniforms[start][:, :4]) * 2 - 1
        previous = torch.from_numpy(played[start - FRAMES:start])[None]
        with torch.no_grad():
            expected = model.generate_logits(z, previous)[0].numpy()
        assert np.allclose(bars[start][0], expected, atol=1e-4)
        assert np.array_equal(played[start:start + FRAMES], expected > 0)


def test_train_frames_trains_and_exports_a_bar_gan(tmp_path):
    rng = np.random.default_rng(0)

    def piece() -> list[list[int]]:
        root = int(rng.integers(55, 65))
        return [[root + (4 * (t // 2)) % 12, root + 7] for t in range(24)]

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({name: [piece() for _ in range(count)]
                                for name, count in (("train", 6), ("valid", 2), ("test", 2))}))
    run, onnx_path = tmp_path / "run", tmp_path / "gan.onnx"
    runner = CliRunner()
    result = runner.invoke(app, [
        "train-frames", str(path), "--out", str(run), "--family", "bar-gan",
        "--model-config", json.dumps(TINY), "--epochs", "1", "--steps-per-epoch", "3",
        "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "bar-gan on tiny.json: test notes per frame" in result.output
    result = runner.invoke(app, ["export", str(run / "best.pt"), "--out", str(onnx_path)])
    assert result.exit_code == 0, result.output
    assert StepModel(onnx_path, device="cpu").card.family == "bar-gan"
    # `antiphon eval` scores likelihoods, which a GAN has not: it says so, and what measures it.
    for model in (run / "best.pt", onnx_path):
        refused = runner.invoke(app, ["eval", str(model), "--benchmark", str(path)])
        assert refused.exit_code != 0, refused.output
        assert "has no likelihood to score" in refused.output
        assert "bar_answers" in refused.output

    # What it answers to the test pieces' first bar, beside their real continuations.
    columns, table, calls = bar_answer_table(path, [onnx_path], call_frames=FRAMES,
                                             answer_frames=2 * FRAMES)
    assert calls == 2 and columns == ["real continuation", "gan"]
    # 16 frames, 4 a beat (a file the benchmarks do not name): a voice moving every two
    # frames (8 notes) over one held note, in 4 beats.
    assert table["notes_per_beat"][0] == pytest.approx(9 / 4)
    assert table["polyphony"][0] == pytest.approx(2.0)


def test_answers_are_measured_as_notes_and_repeated_bars():
    roll = np.zeros((8, 4), dtype=bool)
    roll[0:3, 0] = roll[4:7, 0] = True  # the same bar twice
    roll[2, 1] = True
    notes = roll_notes(roll, ticks_per_frame=12)
    assert notes.tolist() == [[0, 36, 21], [24, 36, 22], [48, 84, 21]]
    assert bar_repeats(roll, 4) == 0.0  # the first bar has key 1 too
    roll[2, 1] = False
    assert bar_repeats(roll, 4) == 0.5
    assert np.isnan(bar_repeats(np.zeros((8, 4), dtype=bool), 4))  # no sounding bar
