"""The GRU seq2seq: exact per-frame NLL with phrases counted from the start, the step graph
equal to the batch pass, focal loss as an option, export parity and note density."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from antiphon.engine.pianoroll import PianoRollCodecConfig  # noqa: E402
from antiphon.engine.session import open_session  # noqa: E402
from antiphon.training.evaluation.frame_baselines import MarkovBaseline, frame_nll  # noqa: E402
from antiphon.training.export import export_frame_model  # noqa: E402
from antiphon.training.families.gru_seq2seq import GruSeq2SeqModel, Seq2SeqConfig  # noqa: E402
from antiphon.training.fit.frame_pipeline import FrameTask, note_density  # noqa: E402
from antiphon.training.fit.loop import train_task  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

CODEC = PianoRollCodecConfig(keys=8, lowest_pitch=60, frames_per_beat=2,
                             distinguish_onsets=False)


def scale_rolls(pieces: int, length: int, seed: int) -> list[np.ndarray]:
    """A walk up and down 8 keys with a fifth above, one step per frame."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(pieces):
        roll = np.zeros((length, 8), dtype=bool)
        key, direction = int(rng.integers(0, 4)), 1
        for frame in range(length):
            roll[frame, key] = True
            roll[frame, min(key + 4, 7)] = True
            if not 0 <= key + direction <= 3:
                direction = -direction
            key += direction
        rolls.append(roll)
    return rolls


@torch.no_grad()
def test_the_step_graph_is_the_batch_pass_across_phrase_boundaries():
    torch.manual_seed(0)
    model = GruSeq2SeqModel(Seq2SeqConfig(keys=8, hidden=12, phrase=4, dropout=0.0)).eval()
    roll = torch.from_numpy(scale_rolls(1, 11, 0)[0].astype(np.float32))
    previous = torch.cat([torch.zeros(1, 8), roll[:-1]])[None]
    batch_logits = model.logits_over(previous)[0]  # [T, K]
    state = model.initial_state(1)
    for t in range(len(roll)):
        _, logits, state = model.step(previous[:, t], torch.rand(1, 8), state)
        torch.testing.assert_close(logits[0], batch_logits[t])
    assert int(state[2]) == 11


def test_focal_loss_only_in_training_and_only_when_asked():
    frames = torch.from_numpy(scale_rolls(2, 8, 1)[0][None].astype(np.float32))
    previous = torch.zeros_like(frames)
    torch.manual_seed(0)
    plain = GruSeq2SeqModel(Seq2SeqConfig(keys=8, hidden=8, dropout=0.0))
    torch.manual_seed(0)
    focal = GruSeq2SeqModel(Seq2SeqConfig(keys=8, hidden=8, dropout=0.0, focal_gamma=2.0))
    with torch.no_grad():
        assert torch.all(focal.train().frame_log_loss(previous, frames)
                         < plain.train().frame_log_loss(previous, frames))
        torch.testing.assert_close(focal.eval().frame_log_loss(previous, frames),
                                   plain.eval().frame_log_loss(previous, frames))


def test_trains_exports_plays_and_reports_density(tmp_path):
    splits = {"train": scale_rolls(40, 32, 0), "valid": scale_rolls(8, 32, 1)}
    best = train_task(tmp_path, FrameTask(splits, CODEC),
                      {"hidden": 32, "phrase": 8, "dropout": 0.0, "focal_gamma": 1.0},
                      TrainConfig(epochs=2, steps_per_epoch=60, batch_size=8, window=32,
                                  lr=1e-2, warmup_steps=10, transpose=(0, 0)),
                      family="gru-seq2seq")
    import antiphon.training.fit.checkpoint as checkpoints

    model, checkpoint = checkpoints.load_checkpoint(best)
    markov = MarkovBaseline.fit(splits["train"])
    floor = frame_nll([markov.predict(r) for r in splits["valid"]], splits["valid"])
    assert checkpoint["metrics"]["valid_nll_per_frame"] < floor
    # Two notes a frame in the data; the samples should be near that, not silent or dense.
    density = note_density(model, splits["valid"][:4], frames=32)
    assert 1.0 < density < 3.5
    path = tmp_path / "s2s.onnx"
    card = export_frame_model(best, path, "s2s", parity_steps=40)  # crosses phrase starts
    assert card.family == "gru-seq2seq"
    session = open_session(path, device="cpu", seed=0)
    answer = list(session.generate(0, 12 * 20))
    assert sum(1 for e in answer if e.velocity) == sum(1 for e in answer if not e.velocity) > 0
