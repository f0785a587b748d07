"""A decoder-only Transformer token model over the events representation.

Training runs full causal attention over a batch of windows (`forward`). Playing runs one
token at a time (`step`) against a key/value cache of fixed size: a ring buffer of the
last `window` tokens per layer, so a step costs the same at token 10 and at token 10
million, and the exported ONNX step graph has fixed shapes.

Positions: ALiBi (Press et al., 2022). Each head adds `-slope * distance` to the score of
a key `distance` tokens back; keys and values carry no position of their own. That is
what makes the ring buffer exact: the distance of the key in slot s from the token at
position p is `(p - s) mod window`, a small integer, so no cached key is ever recomputed
when the ring wraps. Learned absolute positions would change meaning at the wrap (the
cache would hold positions it was not trained on, or the same slot would mean two
places), and rotary embeddings, though relative in effect, rotate by the absolute
position: in a daemon that runs for days that angle grows without bound and float32
loses it.

Attention is a sliding window: a query sees itself and the `window - 1` tokens before it,
in every layer. `forward` applies the same band mask, so for any length it computes what
stepping computes (for up to `window` tokens that is plain causal attention). With more
than one layer, stepping is NOT the same as re-running the last `window` tokens from
scratch: a deeper layer's cached keys were computed when their token could still see its
own `window - 1` predecessors, so the receptive field reaches `layers * (window - 1)` back.
That is the usual sliding-window Transformer (as in Longformer / Mistral), and exact.

Its config, `TransformerConfig`, is in `token_configs.py` (torch-free, read by the CLI).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from antiphon.training.families.token_configs import TransformerConfig

# (query positions, key positions, bias [H, queries, keys]) of one chunk of queries
AttentionChunk = tuple[slice, slice, torch.Tensor]


def alibi_slopes(heads: int) -> torch.Tensor:
    """The geometric slopes of the ALiBi paper: 2^(-8/n), 2^(-16/n), ... for n heads.

    For a head count that is not a power of two, the paper's recipe: the slopes of the
    nearest lower power of two, then every other slope of the next one up.
    """

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (i + 1) / n) for i in range(n)]

    lower = 2 ** math.floor(math.log2(heads))
    slopes = power_of_two(lower) + power_of_two(2 * lower)[0::2][: heads - lower]
    return torch.tensor(slopes, dtype=torch.float32)  # [H]


class SelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.heads, self.head_width = config.heads, config.head_width
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.proj = nn.Linear(config.width, config.width)
        self.dropout = config.dropout
        self.resid_drop = nn.Dropout(config.dropout)

    def _split_heads(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x [..., C] -> q, k, v, each [..., H, D]."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return [t.unflatten(-1, (self.heads, self.head_width)) for t in (q, k, v)]

    def forward(self, x: torch.Tensor, chunks: list[AttentionChunk]) -> torch.Tensor:
        """x [B, T, C], the query chunks that cover T (see `attention_chunks`) -> [B, T, C]."""
        q, k, v = (t.transpose(1, 2) for t in self._split_heads(x))  # each [B, H, T, D]
        parts = [
            F.scaled_dot_product_attention(
                q[:, :, queries], k[:, :, keys], v[:, :, keys], attn_mask=bias,
                dropout_p=self.dropout if self.training else 0.0,
            )  # [B, H, chunk queries, D]
            for queries, keys, bias in chunks
        ]
        y = torch.cat(parts, dim=2).transpose(1, 2).flatten(2)  # [B, T, C]
        return self.resid_drop(self.proj(y))

    def step(
        self,
        x: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        slot: torch.Tensor,
        bias: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One token against this layer's ring buffer.

        x [B, C]; keys [B, H, D, W] (stored transposed, so scores need no transpose);
        values [B, H, W, D]; slot [B] (where this token goes); bias [B, H, 1, W] (ALiBi,
        -inf on empty slots) -> (y [B, C], keys, values).
        """
        batch, heads, width = x.shape[0], self.heads, self.head_width
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # each [B, C]
        q = q.reshape(batch, heads, 1, width)  # [B, H, 1, D]
        # Overwrite the oldest slot. A scatter copies the cache once and writes one slot;
        # a one-hot `where` over the whole cache measured several times slower in ORT.
        key_slot = slot.reshape(batch, 1, 1, 1).expand(batch, heads, width, 1)
        keys = keys.scatter(3, key_slot, k.reshape(batch, heads, width, 1))  # [B, H, D, W]
        value_slot = slot.reshape(batch, 1, 1, 1).expand(batch, heads, 1, width)
        values = values.scatter(2, value_slot, v.reshape(batch, heads, 1, width))  # [B, H, W, D]
        scores = (q @ keys) * (1.0 / math.sqrt(width)) + bias  # [B, H, 1, W]
        y = torch.softmax(scores, dim=-1) @ values  # [B, H, 1, D]
        return self.proj(y.reshape(batch, heads * width)), keys, values  # [B, C]


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.width)
        self.attn = SelfAttention(config)
        self.mlp_norm = nn.LayerNorm(config.width)
        self.mlp = nn.Sequential(
            nn.Linear(config.width, config.mlp_ratio * config.width),
            nn.GELU(),  # exact (erf) GELU: exports to ONNX Erf at opset 17
            nn.Linear(config.mlp_ratio * config.width, config.width),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor, chunks: list[AttentionChunk]) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), chunks)  # [B, T, C]
        return x + self.mlp(self.mlp_norm(x))  # [B, T, C]

    def step(self, x, keys, values, slot, bias):
        y, keys, values = self.attn.step(self.attn_norm(x), keys, values, slot, bias)
        x = x + y  # [B, C]
        return x + self.mlp(self.mlp_norm(x)), keys, values


class TransformerTokenModel(nn.Module):
    """Embedding -> blocks with ALiBi sliding-window attention -> norm -> tied head."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if config.vocab_size <= 0:
            raise ValueError("TransformerConfig.vocab_size must be set from the codec")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.width)
        self.embed_drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied, as in GPT-2 / nanoGPT
        # Derived from the config, so not saved: a checkpoint rebuilds them.
        self.register_buffer("slopes", alibi_slopes(config.heads), persistent=False)  # [H]
        self.register_buffer("slot_index", torch.arange(config.window), persistent=False)  # [W]
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                # GPT-2: residual branches scaled down by depth keep the stream's variance.
                nn.init.normal_(parameter, 0.0, 0.02 / math.sqrt(2 * config.layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def family_name(self) -> str:
        return "transformer"

    @property
    def state_names(self) -> list[str]:
        """One key and one value cache per layer, then the position counter.

        Per-layer tensors rather than one stacked [L, ...] tensor: slicing a layer out and
        stacking them back would copy the whole cache twice more per step.
        """
        per_layer = [f"{kind}_{layer}" for layer in range(self.config.layers)
                     for kind in ("key", "value")]
        return [*per_layer, "position"]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """An empty cache: per layer keys [B, H, D, W] and values [B, H, W, D]; position
        [B] (int64, tokens seen so far).

        All zeros, as the engine builds it from the card: the position, not the contents,
        tells which slots are filled.
        """
        c = self.config
        key_shape = (batch, c.heads, c.head_width, c.window)
        value_shape = (batch, c.heads, c.window, c.head_width)
        state = []
        for _ in range(c.layers):
            state += [torch.zeros(key_shape, device=device),
                      torch.zeros(value_shape, device=device)]
        return [*state, torch.zeros(batch, dtype=torch.int64, device=device)]

    def attention_chunks(self, length: int, device: torch.device) -> list[AttentionChunk]:
        """Queries in chunks of `window`, each with the band of keys it may see.

        Memory then grows linearly with T on pieces much longer than the window (the
        evaluation runs whole pieces). A chunk's bias depends only on its shape and its
        offset from its first key, so however long the piece, at most three are built.
        """
        window, chunks, biases = self.config.window, [], {}
        for start in range(0, length, window):
            stop = min(length, start + window)
            first_key = max(0, start - window + 1)
            geometry = (stop - start, stop - first_key, start - first_key)
            if geometry not in biases:
                biases[geometry] = self._band_bias(*geometry, device)
            chunks.append((slice(start, stop), slice(first_key, stop), biases[geometry]))
        return chunks

    def _band_bias(self, queries: int, keys: int, offset: int, device) -> torch.Tensor:
        """[H, queries, keys]: -slope * distance where 0 <= distance < window, else -inf.

        Query i is `offset + i - j` tokens after key j.
        """
        distance = (offset + torch.arange(queries, device=device)[:, None]
                    - torch.arange(keys, device=device)[None, :])  # [queries, keys]
        visible = (distance >= 0) & (distance < self.config.window)
        bias = -self.slopes[:, None, None] * distance.float()  # [H, queries, keys]
        return bias.masked_fill(~visible, float("-inf"))

    def forward(
        self, tokens: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, None]:
        """tokens [B, T] -> logits [B, T, V], None.

        Every sequence starts from an empty cache; `state` is accepted for the recurrent
        families' signature and must be None (step through `step` to continue one).
        """
        if state is not None:
            raise ValueError("TransformerTokenModel.forward starts from scratch; use step()")
        chunks = self.attention_chunks(tokens.shape[1], tokens.device)
        x = self.embed_drop(self.embed(tokens))  # [B, T, C]
        for block in self.blocks:
            x = block(x, chunks)  # [B, T, C]
        return self.head(self.norm(x)), None  # [B, T, V]

    def step(
        self, token: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One step for export: token [B], state (see `initial_state`) -> logits [B, V], state.

        The token at `position` goes to slot `position % window`; the key in slot s is
        `(position - s) mod window` tokens back, and holds a token only if that distance
        is <= position (before the first wrap, the later slots are still empty).
        """
        *caches, position = state  # per layer [B, H, D, W] and [B, H, W, D]; position [B]
        window = self.config.window
        slot = position % window  # [B]
        # + window keeps the left operand non-negative, so no sign convention of mod matters.
        distance = (position.unsqueeze(-1) - self.slot_index + window) % window  # [B, W]
        visible = distance <= position.unsqueeze(-1)  # [B, W]
        bias = -self.slopes[:, None] * distance.unsqueeze(1).float()  # [B, H, W]
        bias = bias.masked_fill(~visible.unsqueeze(1), float("-inf")).unsqueeze(2)  # [B, H, 1, W]
        x = self.embed(token)  # [B, C]
        new_state = []
        for layer, block in enumerate(self.blocks):
            keys, values = caches[2 * layer], caches[2 * layer + 1]
            x, keys, values = block.step(x, keys, values, slot, bias)  # x [B, C]
            new_state += [keys, values]
        logits = self.head(self.norm(x))  # [B, V]
        return logits, [*new_state, position + 1]
