"""Transformer-VAE over piano-roll phrases (the Transformer-VAE of "schuBERT & paGANini"),
beside the LSTM-VAE, with the two fixes that document asked for behind switches.

The document's model: an encoder of 6 Transformer layers reads the whole phrase (n frames
x keys); its FIRST output gives the latent mean and its LAST output the log-variance. A
causal Transformer decoder, with z added at every position beside the previous frame,
gives each key's probability in the next frame (sigmoid outputs, BCE + KL). It plateaued
there, looping the commonest notes, and the document blamed two things, each a switch here:

- `positions`: "absolute" adds sinusoidal positions counted from the phrase's first frame
  (the document's); "relative" adds none and biases attention by distance instead (ALiBi,
  as the token Transformer does: `transformer.alibi_slopes`), symmetric in the encoder,
  causal in the decoder. A model trained on 64-frame crops meets positions past 63 at
  once on whole pieces and in a long live session; a relative one never does.
- `outputs`: how the step graph draws a frame. "threshold" sounds every key with p > 0.5
  (the document's: the same call always gets the same answer, and where no key passes
  0.5 it falls silent or loops); "bernoulli" draws each key against the uniform input,
  as the LSTM-VAE does. It changes what is played, never the likelihood.

The objective is the LSTM-VAE's, taken from it whole (it needs only `encode` and
`decode_logits`): recon + beta * KL with KL annealing and free bits in training, and the
importance-weighted bound (IWAE) on the NLL in eval mode.

Stepping: the decoder attends over a sliding window of `window` frames (itself included)
in `decode_logits` and in `step` alike, with a key/value ring buffer per layer in the step
graph (the token Transformer's `Block.step`), so stepping computes exactly what
`decode_logits` computes, at a fixed cost per frame. An absolute position enters a frame's
keys when the frame is first seen, so the cache stays exact in that mode too. z is the
last state tensor; the engine starts it at zero, the prior's mean, as for the LSTM-VAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from antiphon.training.families.lstm_vae import LstmVaeModel
from antiphon.training.families.token_configs import TransformerConfig
from antiphon.training.families.transformer import Block, alibi_slopes

POSITIONS = ("absolute", "relative")
OUTPUTS = ("threshold", "bernoulli")


@dataclass
class TransformerVaeConfig:
    keys: int = 88  # keys per frame
    width: int = 128  # model width (frame embedding and residual stream); a multiple of heads
    heads: int = 4  # attention heads per layer
    encoder_layers: int = 6  # the document's depth
    decoder_layers: int = 4  # causal layers
    latent: int = 32  # size of z
    window: int = 64  # frames a decoder query attends to (itself included): the step cache
    mlp_ratio: int = 4  # the feed-forward layer is mlp_ratio * width wide
    dropout: float = 0.1  # on attention weights, residual branches and inputs (training)
    positions: str = "relative"  # "absolute" (sinusoidal, the document's) or "relative" (ALiBi)
    outputs: str = "bernoulli"  # step graph's draw: "threshold" (p > 0.5) or "bernoulli"
    kl_anneal_steps: int = 2000  # beta rises linearly from 0 to 1 over these training steps
    free_bits: float = 0.0  # nats per latent dimension of KL left unpenalised (training)
    importance_samples: int = 8  # codes per piece for the held-out bound

    def __post_init__(self) -> None:
        for name in ("keys", "width", "heads", "encoder_layers", "decoder_layers", "latent",
                     "window", "mlp_ratio", "importance_samples"):
            if (value := getattr(self, name)) < 1:
                raise ValueError(f"TransformerVaeConfig.{name} must be >= 1, got {value}")
        if self.width % (2 * self.heads):  # sinusoids come in sin / cos pairs
            raise ValueError(f"TransformerVaeConfig.width {self.width} must be a multiple "
                             f"of 2 * heads ({2 * self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"TransformerVaeConfig.dropout must lie in [0, 1), got "
                             f"{self.dropout}")
        if self.kl_anneal_steps < 0 or self.free_bits < 0:
            raise ValueError("TransformerVaeConfig.kl_anneal_steps and free_bits must be >= 0")
        if self.positions not in POSITIONS:
            raise ValueError(f"TransformerVaeConfig.positions must be one of "
                             f"{', '.join(POSITIONS)}, got {self.positions!r}")
        if self.outputs not in OUTPUTS:
            raise ValueError(f"TransformerVaeConfig.outputs must be one of "
                             f"{', '.join(OUTPUTS)}, got {self.outputs!r}")

    def block_config(self, layers: int) -> TransformerConfig:
        return TransformerConfig(layers=layers, heads=self.heads, width=self.width,
                                 window=self.window, mlp_ratio=self.mlp_ratio,
                                 dropout=self.dropout)


class TransformerVaeModel(nn.Module):
    # The LSTM-VAE's objective, which reads the model only through encode / decode_logits.
    kl_weight = LstmVaeModel.kl_weight
    frame_log_loss = LstmVaeModel.frame_log_loss
    _recon = LstmVaeModel._recon
    _training_loss = LstmVaeModel._training_loss
    _importance_bound = LstmVaeModel._importance_bound

    def __init__(self, config: TransformerVaeConfig) -> None:
        super().__init__()
        self.config = config
        k, c, z = config.keys, config.width, config.latent
        self.encoder_in = nn.Linear(k, c)
        self.encoder = nn.ModuleList(Block(config.block_config(config.encoder_layers))
                                     for _ in range(config.encoder_layers))
        self.encoder_norm = nn.LayerNorm(c)
        self.to_mean = nn.Linear(c, z)
        self.to_log_variance = nn.Linear(c, z)
        self.decoder_in = nn.Linear(k, c)
        self.from_z = nn.Linear(z, c)
        self.decoder = nn.ModuleList(Block(config.block_config(config.decoder_layers))
                                     for _ in range(config.decoder_layers))
        self.decoder_norm = nn.LayerNorm(c)
        self.to_logits = nn.Linear(c, k)
        self.input_drop = nn.Dropout(config.dropout)
        relative = config.positions == "relative"
        # Derived from the config, so not saved. With absolute positions the slopes are
        # zero: the same masks, no distance bias.
        slopes = alibi_slopes(config.heads) if relative else torch.zeros(config.heads)
        self.register_buffer("slopes", slopes, persistent=False)  # [H]
        half = c // 2
        frequencies = torch.exp(-math.log(10000.0) * torch.arange(half) / half)
        self.register_buffer("frequencies", frequencies, persistent=False)  # [C / 2]
        self.register_buffer("slot_index", torch.arange(config.window), persistent=False)
        # Training steps taken, for the KL annealing (saved, as in the LSTM-VAE).
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @property
    def family_name(self) -> str:
        return "transformer-vae"

    @property
    def state_names(self) -> list[str]:
        """Per decoder layer a key and a value cache, the position counter, then z."""
        per_layer = [f"{kind}_{layer}" for layer in range(self.config.decoder_layers)
                     for kind in ("key", "value")]
        return [*per_layer, "position", "z"]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """All zeros, as the engine builds it: keys [B, H, D, W], values [B, H, W, D] per
        layer, position [B] (int64, frames seen), z [B, Z] (the prior's mean)."""
        c = self.config
        head_width = c.width // c.heads
        state = []
        for _ in range(c.decoder_layers):
            state += [torch.zeros(batch, c.heads, head_width, c.window, device=device),
                      torch.zeros(batch, c.heads, c.window, head_width, device=device)]
        return [*state, torch.zeros(batch, dtype=torch.int64, device=device),
                torch.zeros(batch, c.latent, device=device)]

    # -- the parts ------------------------------------------------------------------------
    def sinusoids(self, position: torch.Tensor) -> torch.Tensor:
        """position [...] (frames from the phrase's start) -> [..., C], or 0 if relative."""
        if self.config.positions == "relative":
            return torch.zeros((), device=position.device)
        angle = position.float().unsqueeze(-1) * self.frequencies  # [..., C / 2]
        return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)

    def encode(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
        """frames [B, T, K], lengths [B] -> mean, log-variance [B, Z] of q(z | phrase):
        the mean from the first output, the log-variance from the last real one."""
        batch, steps = frames.shape[:2]
        where = torch.arange(steps, device=frames.device)  # [T]
        x = self.encoder_in(frames) + self.sinusoids(where)  # [B, T, C]
        x = self.input_drop(x)
        distance = (where[:, None] - where[None, :]).abs().float()  # [T, T]
        bias = -self.slopes[:, None, None] * distance  # [H, T, T]: symmetric
        padding = where[None, :] >= lengths[:, None]  # [B, T]: keys past a piece's end
        bias = bias.unsqueeze(0).masked_fill(padding[:, None, None, :], float("-inf"))
        chunks = [(slice(None), slice(None), bias)]  # one chunk: [B, H, T, T]
        for block in self.encoder:
            x = block(x, chunks)  # [B, T, C]
        x = self.encoder_norm(x)
        last = x[torch.arange(batch, device=x.device), lengths - 1]  # [B, C]
        return self.to_mean(x[:, 0]), self.to_log_variance(last).clamp(-10.0, 10.0)

    def decode_logits(self, previous: torch.Tensor, z: torch.Tensor,
                      state: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, None]:
        """previous [B, T, K] (from a phrase's start), z [B, Z] -> key logits [B, T, K].

        Each query sees itself and the `window - 1` frames before it, as `step` does.
        """
        if state is not None:
            raise ValueError("TransformerVaeModel.decode_logits starts from scratch; use step()")
        steps = previous.shape[1]
        where = torch.arange(steps, device=previous.device)  # [T]
        x = (self.decoder_in(previous) + self.from_z(z).unsqueeze(1)
             + self.sinusoids(where))  # [B, T, C]
        x = self.input_drop(x)
        distance = where[:, None] - where[None, :]  # [T, T]: query minus key
        visible = (distance >= 0) & (distance < self.config.window)
        bias = -self.slopes[:, None, None] * distance.float()  # [H, T, T]
        chunks = [(slice(None), slice(None), bias.masked_fill(~visible, float("-inf")))]
        for block in self.decoder:
            x = block(x, chunks)  # [B, T, C]
        return self.to_logits(self.decoder_norm(x)), None

    # -- the step graph -------------------------------------------------------------------
    def step(self, previous: torch.Tensor, uniform: torch.Tensor, state: list[torch.Tensor],
             temperature: torch.Tensor | float = 1.0, logit_bias: torch.Tensor | float = 0.0,
             ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """previous frame [B, K], uniform [B, K], state (see `initial_state`) -> frame
        drawn [B, K] (by `outputs`), its logits [B, K], state (z passed on unchanged).

        The frame at `position` goes to slot `position % window`; slot s holds the frame
        `(position - s) mod window` back, once that many frames have been seen.
        """
        *caches, position, z = state
        window = self.config.window
        slot = position % window  # [B]
        distance = (position.unsqueeze(-1) - self.slot_index + window) % window  # [B, W]
        visible = distance <= position.unsqueeze(-1)  # [B, W]
        bias = -self.slopes[:, None] * distance.unsqueeze(1).float()  # [B, H, W]
        bias = bias.masked_fill(~visible.unsqueeze(1), float("-inf")).unsqueeze(2)
        x = self.decoder_in(previous) + self.from_z(z) + self.sinusoids(position)  # [B, C]
        new_state = []
        for layer, block in enumerate(self.decoder):
            keys, values = caches[2 * layer], caches[2 * layer + 1]
            x, keys, values = block.step(x, keys, values, slot, bias)  # x [B, C]
            new_state += [keys, values]
        logits = self.to_logits(self.decoder_norm(x))  # [B, K]
        p = torch.sigmoid(logits / temperature + logit_bias)
        if self.config.outputs == "threshold":
            # The document's: every key against 0.5, so the same answer every time. The
            # noise is clamped rather than dropped, so the graph keeps the uniform input
            # that the engine feeds every frame graph.
            uniform = uniform.clamp(0.5, 0.5)
        frame = (uniform < p).to(previous.dtype)
        return frame, logits, [*new_state, position + 1, z]
