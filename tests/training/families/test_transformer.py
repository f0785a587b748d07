"""The Transformer token model: forward vs stepping through the rolling KV cache, training,
and export to a step graph the engine plays."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from music_checks import arpeggios, assert_well_formed  # noqa: E402

from antiphon.engine.codec import EventCodec  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.engine.session import Engine  # noqa: E402
from antiphon.training.data.tokens import encode_pieces  # noqa: E402
from antiphon.training.export import export_token_model  # noqa: E402
from antiphon.training.families.transformer import (  # noqa: E402
    TransformerConfig,
    TransformerTokenModel,
    alibi_slopes,
)
from antiphon.training.fit.checkpoint import load_checkpoint  # noqa: E402
from antiphon.training.fit.loop import train  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

codec = EventCodec()
TOLERANCE = 1e-4


def tiny_model(layers: int = 2, heads: int = 4, window: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    config = TransformerConfig(vocab_size=codec.vocab_size, layers=layers, heads=heads,
                               width=8 * heads, window=window, dropout=0.0)
    model = TransformerTokenModel(config).eval()
    # Spread the weights so attention is far from uniform and a wrong slot would show.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4.0)
    return model


def random_tokens(length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, codec.vocab_size, (1, length), generator=generator)  # [1, T]


@torch.no_grad()
def stepped_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    """tokens [1, T] -> logits [1, T, V], one step at a time from an empty cache."""
    state, logits = model.initial_state(1), []
    for t in range(tokens.shape[1]):
        step_logits, state = model.step(tokens[:, t], state)  # [1, V]
        logits.append(step_logits)
    assert int(state[-1][0]) == tokens.shape[1]
    return torch.stack(logits, dim=1)


@torch.no_grad()
def naive_one_layer_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    """An independent, loop-by-loop reading of a one-layer model: ALiBi over the window."""
    block, config = model.blocks[0], model.config
    x = model.embed(tokens[0])  # [T, C]
    q, k, v = (t.unflatten(-1, (config.heads, config.head_width))
               for t in block.attn.qkv(block.attn_norm(x)).chunk(3, dim=-1))  # [T, H, D]
    slopes = alibi_slopes(config.heads)
    attended = torch.zeros_like(q)  # [T, H, D]
    for i in range(tokens.shape[1]):
        seen = range(max(0, i - config.window + 1), i + 1)
        for h in range(config.heads):
            scores = torch.stack([q[i, h] @ k[j, h] / math.sqrt(config.head_width)
                                  - slopes[h] * (i - j) for j in seen])
            weights = torch.softmax(scores, dim=0)
            attended[i, h] = sum(w * v[j, h] for w, j in zip(weights, seen, strict=True))
    x = x + block.attn.proj(attended.flatten(1))
    x = x + block.mlp(block.mlp_norm(x))
    return model.head(model.norm(x)).unsqueeze(0)  # [1, T, V]


def test_alibi_slopes_follow_the_paper():
    assert alibi_slopes(8).tolist() == [2.0 ** -k for k in range(1, 9)]
    assert alibi_slopes(4).tolist() == [2.0 ** -k for k in (2, 4, 6, 8)]
    # 6 heads: the 4 slopes of 4 heads, then every other slope of 8 heads.
    assert alibi_slopes(6).tolist() == [2.0 ** -k for k in (2, 4, 6, 8, 1, 3)]


def test_config_is_checked():
    with pytest.raises(ValueError, match="multiple of heads"):
        TransformerConfig(vocab_size=10, width=30, heads=4)
    with pytest.raises(ValueError, match="window"):
        TransformerConfig(vocab_size=10, window=0)
    with pytest.raises(ValueError, match="vocab_size"):
        TransformerTokenModel(TransformerConfig())


def test_forward_equals_stepping_within_the_window():
    model = tiny_model(layers=3, heads=4, window=16)
    tokens = random_tokens(16)
    with torch.no_grad():
        forward, state = model(tokens)
    assert state is None
    assert torch.allclose(forward, stepped_logits(model, tokens), atol=TOLERANCE, rtol=0)


def test_forward_matches_an_independent_reading_of_alibi():
    model = tiny_model(layers=1, heads=3, window=8)  # 3 heads: the non-power-of-two slopes
    tokens = random_tokens(20, seed=1)  # beyond the window: the band is exercised too
    with torch.no_grad():
        forward, _ = model(tokens)
    assert torch.allclose(forward, naive_one_layer_logits(model, tokens), atol=TOLERANCE, rtol=0)


def test_stepping_past_the_window_is_sliding_window_attention():
    # Exact for any depth: forward applies the same band (each query sees `window` tokens,
    # itself included) in every layer, and chunks its queries when T exceeds the window.
    model = tiny_model(layers=2, window=16)
    tokens = random_tokens(16 * 4 + 5, seed=2)
    with torch.no_grad():
        forward, _ = model(tokens)
    assert torch.allclose(forward, stepped_logits(model, tokens), atol=TOLERANCE, rtol=0)


def test_one_layer_rolling_step_equals_rerunning_the_last_window():
    # With one layer, the ring buffer holds exactly the last `window` tokens' keys and values
    # and ALiBi needs only their distances, so a step equals full attention re-run over the
    # last `window` tokens. (Deeper layers' cached keys remember their own earlier context,
    # so for them only the sliding-window equality above holds.)
    window = 8
    model = tiny_model(layers=1, window=window)
    tokens = random_tokens(window * 3 + 3, seed=3)
    stepped = stepped_logits(model, tokens)  # [1, T, V]
    with torch.no_grad():
        for t in range(window - 1, tokens.shape[1]):
            rerun, _ = model(tokens[:, t - window + 1 : t + 1])  # [1, W, V]
            assert torch.allclose(rerun[:, -1], stepped[:, t], atol=TOLERANCE, rtol=0), t


def test_forward_does_not_continue_a_state():
    model = tiny_model(layers=1)
    with pytest.raises(ValueError, match="step"):
        model(random_tokens(4), model.initial_state(1))


@pytest.mark.slow
def test_training_learns_and_exports_a_graph_the_engine_plays(tmp_path):
    splits = {"train": encode_pieces(arpeggios(60), codec),
              "valid": encode_pieces(arpeggios(6, seed=1), codec)}
    # Training windows (64) longer than the attention window (16): the band mask and the
    # chunked attention are what the trainer sees, as the cache will at play time.
    config = TrainConfig(epochs=4, steps_per_epoch=60, batch_size=8, window=64,
                         warmup_steps=10, lr=3e-3)
    model_config = {"layers": 2, "heads": 2, "width": 64, "window": 16, "dropout": 0.0}
    reports = []
    best = train(tmp_path, codec, splits, model_config, config, on_epoch=reports.append,
                 family="transformer")
    assert reports[-1].valid_nll < 0.5 * np.log(codec.vocab_size)  # arpeggios are predictable

    model, checkpoint = load_checkpoint(best)
    assert checkpoint["family"] == "transformer"
    assert checkpoint["model_config"]["window"] == 16

    # 300 parity steps with a window of 16: the ring wraps many times under the check.
    onnx_path = tmp_path / "arp-transformer.onnx"
    card = export_token_model(best, onnx_path, "arp-transformer", "arpeggios", parity_steps=300)
    assert card.family == "transformer"
    key, value = ((1, 2, 32, 16), "float32"), ((1, 2, 16, 32), "float32")  # [B, H, D, W]
    assert [(s.input, s.shape, s.dtype) for s in card.state] == [
        ("key_0_in", *key), ("value_0_in", *value), ("key_1_in", *key), ("value_1_in", *value),
        ("position_in", (1,), "int64"),
    ]

    engine = Engine.load(onnx_path, device="cpu")
    for seed in range(5):
        session = engine.new_session(seed=seed)
        session.observe([NoteEvent(0, 60, 90), NoteEvent(6, 60, 0), NoteEvent(6, 64, 90),
                         NoteEvent(12, 64, 0), NoteEvent(12, 67, 90), NoteEvent(18, 67, 0)])
        answer = list(session.generate(24, 96, temperature=0.8))
        assert_well_formed(answer, 24, 120)
        assert any(event.velocity for event in answer)
        assert session.tick == 120
