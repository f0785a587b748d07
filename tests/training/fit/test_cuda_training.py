"""Training on CUDA with bfloat16 autocast (runs only where torch sees a GPU: the lent GPU
machine, never CI): a model trains, its checkpoint loads on the CPU and exports."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def test_bf16_training_on_cuda_exports_with_parity(tmp_path):
    from antiphon.engine.codec import EventCodec
    from antiphon.engine.events import NoteEvent
    from antiphon.training.data.tokens import encode_pieces
    from antiphon.training.export import export_token_model
    from antiphon.training.fit.loop import train
    from antiphon.training.fit.train_config import TrainConfig

    rng = np.random.default_rng(0)
    codec = EventCodec()

    def piece():
        events, tick = [], 0
        for _ in range(40):
            pitch = int(rng.choice([60, 62, 64, 65, 67]))
            events += [NoteEvent(tick, pitch, 80), NoteEvent(tick + 12, pitch, 0)]
            tick += 12
        return events

    splits = {name: encode_pieces([piece() for _ in range(n)], codec)
              for name, n in (("train", 30), ("valid", 4))}
    reports = []
    best = train(tmp_path, codec, splits, {"hidden": 64, "embedding": 16, "layers": 1},
                 TrainConfig(epochs=1, steps_per_epoch=60, batch_size=8, window=64,
                             warmup_steps=10, lr=1e-2, device="cuda"),
                 on_epoch=reports.append)
    assert reports[-1].valid_nll < math.log(codec.vocab_size) / 2
    export_token_model(best, tmp_path / "cuda.onnx", "cuda-trained", parity_steps=50)


def test_every_family_steps_on_cuda():
    from antiphon.training.evaluation.bench_train import FamilySpec, units_per_second

    small = {"vocab_size": 321, "embedding": 8, "hidden": 16, "layers": 1}
    for spec in (FamilySpec("lstm", "recurrent", {**small, "cell": "lstm"}, 2, 16, "token"),
                 FamilySpec("nade", "rnn-nade", {"hidden": 16, "nade_hidden": 8}, 2, 16,
                            "frame"),
                 FamilySpec("vae", "lstm-vae", {"hidden": 16, "latent": 4}, 2, 16, "frame"),
                 FamilySpec("s2s", "gru-seq2seq", {"hidden": 16}, 2, 16, "frame")):
        assert units_per_second(spec, "cuda", 0.2) > 0
