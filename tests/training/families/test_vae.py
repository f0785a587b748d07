"""The LSTM-VAE: a masked encoder, KL annealing, an importance-weighted bound, a code that
carries the phrase (no posterior collapse), export parity, live play and the bridge."""

from __future__ import annotations

import mido
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.engine.pianoroll import PianoRollCodec, PianoRollCodecConfig  # noqa: E402
from antiphon.engine.session import open_session  # noqa: E402
from antiphon.training.bridge import write_events  # noqa: E402
from antiphon.training.evaluation.frame_baselines import MarkovBaseline, frame_nll  # noqa: E402
from antiphon.training.export import export_frame_model  # noqa: E402
from antiphon.training.families.lstm_vae import LstmVaeModel, VaeConfig  # noqa: E402
from antiphon.training.fit.checkpoint import load_checkpoint  # noqa: E402
from antiphon.training.fit.frame_pipeline import FrameTask, frame_nll_of  # noqa: E402
from antiphon.training.fit.loop import train_task  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

CHORDS = np.array([[0, 2, 4], [1, 3, 5]])  # on the white and the black frames of 8 keys
CODEC = PianoRollCodecConfig(keys=8, lowest_pitch=60, frames_per_beat=1,
                             distinguish_onsets=False)


def one_chord_pieces(pieces: int, length: int, seed: int) -> list[np.ndarray]:
    """Each piece strikes one of two chords (its own, at random) on every other frame: only
    a code that knows the piece's chord can predict its first notes."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(pieces):
        roll = np.zeros((length, 8), dtype=bool)
        roll[::2, CHORDS[rng.integers(0, len(CHORDS))]] = True
        rolls.append(roll)
    return rolls


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("vae")
    splits = {"train": one_chord_pieces(64, 16, 0), "valid": one_chord_pieces(16, 16, 1)}
    best = train_task(run, FrameTask(splits, CODEC),
                      {"hidden": 32, "latent": 4, "dropout": 0.0, "kl_anneal_steps": 200,
                       "free_bits": 0.5,
                       "importance_samples": 4},
                      TrainConfig(epochs=6, steps_per_epoch=100, batch_size=16, window=16,
                                  lr=1e-2, warmup_steps=10, transpose=(0, 0)),
                      family="lstm-vae")
    return best, splits


@torch.no_grad()
def test_padding_does_not_change_a_pieces_code():
    torch.manual_seed(0)
    model = LstmVaeModel(VaeConfig(keys=8, hidden=8, latent=3)).eval()
    rolls = one_chord_pieces(3, 10, 2)
    rolls[1] = rolls[1][:6]  # a shorter piece: padded with silence in a batch
    batch = torch.zeros(3, 10, 8)
    for row, roll in enumerate(rolls):
        batch[row, :len(roll)] = torch.from_numpy(roll.astype(np.float32))
    together = model.encode(batch, torch.tensor([10, 6, 10]))
    for row, roll in enumerate(rolls):
        alone = model.encode(torch.from_numpy(roll[None].astype(np.float32)),
                             torch.tensor([len(roll)]))
        for mine, theirs in zip(alone, together, strict=True):
            torch.testing.assert_close(mine[0], theirs[row])
    # and the bound is a per-piece figure spread over real frames only
    assert np.isfinite(frame_nll_of(model, rolls))


def test_kl_weight_rises_with_training_steps():
    model = LstmVaeModel(VaeConfig(keys=8, hidden=8, latent=3, kl_anneal_steps=10)).train()
    torch.set_grad_enabled(False)
    frames = torch.from_numpy(one_chord_pieces(2, 8, 0)[0][None].astype(np.float32))
    assert model.kl_weight() == 0.0
    for _ in range(5):
        model.frame_log_loss(torch.zeros_like(frames), frames)
    assert model.kl_weight() == pytest.approx(0.5)
    for _ in range(10):
        model.frame_log_loss(torch.zeros_like(frames), frames)
    torch.set_grad_enabled(True)
    assert model.kl_weight() == 1.0


@torch.no_grad()
def test_the_code_carries_the_phrase_and_the_bound_beats_the_floor(trained):
    best, splits = trained
    model, checkpoint = load_checkpoint(best)
    model.eval()
    markov = MarkovBaseline.fit(splits["train"])
    floor = frame_nll([markov.predict(r) for r in splits["valid"]], splits["valid"])
    assert checkpoint["metrics"]["valid_nll_per_frame"] < floor
    # Not collapsed: the posterior moves away from the prior, and the mean code of a
    # piece decodes its own chord.
    roll = splits["valid"][0]
    frames = torch.from_numpy(roll[None].astype(np.float32))
    mean, log_variance = model.encode(frames, torch.tensor([len(roll)]))
    kl = 0.5 * (mean.pow(2) + log_variance.exp() - 1 - log_variance).sum()
    assert float(kl) > 0.5
    logits, _ = model.decode_logits(torch.zeros(1, 1, 8), mean)
    assert set(np.flatnonzero(logits[0, 0].numpy() > 0)) == set(np.flatnonzero(roll[0]))


def test_export_parity_and_live_play(trained, tmp_path):
    best, _ = trained
    path = tmp_path / "vae.onnx"
    card = export_frame_model(best, path, "vae", "test", parity_steps=30)
    assert card.family == "lstm-vae" and [s.input for s in card.state] == ["h_in", "c_in", "z_in"]
    session = open_session(path, device="cpu", seed=0)
    session.observe([NoteEvent(0, 60, 90), NoteEvent(24, 60, 0)])
    answer = list(session.generate(48, 24 * 8))
    ons = [e for e in answer if e.velocity]
    assert ons and len(ons) == len(answer) - len(ons)  # every note-on released


def test_bridge_from_the_cli(trained, tmp_path):
    best, _ = trained
    codec = PianoRollCodec(CODEC)
    phrases = []
    for name, chord in (("a", CHORDS[0]), ("b", CHORDS[1])):
        roll = np.zeros((8, 8), dtype=np.uint8)
        roll[::2, chord] = 1
        path = tmp_path / f"{name}.mid"
        write_events(path, codec.decode(roll))
        phrases.append(path)
    out = tmp_path / "bridge.mid"
    result = CliRunner().invoke(app, ["bridge", str(phrases[0]), str(phrases[1]),
                                      "--checkpoint", str(best), "--steps", "3",
                                      "--temperature", "0.3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    starts = [m for m in mido.MidiFile(out).tracks[0] if m.type == "note_on" and m.velocity]
    tick, first_beats, last_beats = 0, set(), set()
    for message in mido.MidiFile(out).tracks[0]:
        tick += message.time
        if message.type == "note_on" and message.velocity:
            beat = tick // 24  # each phrase is 7 beats: its last chord strikes on beat 6
            (first_beats if beat < 7 else last_beats if beat >= 14 else set()).add(
                message.note - 60)
    assert starts
    # The bridge starts on A's chord and ends on B's.
    assert first_beats == set(CHORDS[0]) and last_beats == set(CHORDS[1])
    result = CliRunner().invoke(app, ["bridge", str(phrases[0]), str(phrases[1]),
                                      "--checkpoint", str(tmp_path / "a.mid")])
    assert result.exit_code != 0
