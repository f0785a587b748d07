"""RNN-NADE over piano-roll frames (Boulanger-Lewandowski, Bengio & Vincent, ICML 2012).

A recurrent net reads the frames played so far; its output sets the biases of a NADE
(Larochelle & Murray, 2011) that gives the next frame's joint distribution over the keys
as a product of conditionals, key by key from the lowest:

    p(v) = prod_i p(v_i | v_<i),   p(v_i = 1 | v_<i) = sigmoid(b_i + V_i . h_i),
    h_i = sigmoid(c + sum_{j<i} v_j W_j)

Unlike independent Bernoulli outputs, a key's probability depends on the keys already
decided in the same frame, which is what lets a frame be a chord rather than a cloud of
notes; the likelihood stays exact (no partition function, unlike an RBM). Training uses
teacher forcing over the keys: with the true frame known, every h_i is one cumulative sum,
so all 88 conditionals cost one pass. Sampling (the step graph) walks the keys in order.

Here the recurrent part is an LSTM (the paper's RNN-NADE uses a plain RNN; LSTMs train
more easily without Hessian-free optimisation), and its output also feeds the NADE's
hidden biases `c`, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class NadeConfig:
    keys: int = 88  # keys per frame (88 = the piano, column 0 = A0 in the benchmarks)
    hidden: int = 256  # width of the LSTM state that carries the past
    layers: int = 1  # stacked LSTM layers
    nade_hidden: int = 128  # width of the NADE's hidden layer (h_i above)
    dropout: float = 0.3  # on the LSTM's output, between LSTM layers (training only)

    def __post_init__(self) -> None:
        for name in ("keys", "hidden", "layers", "nade_hidden"):
            if (value := getattr(self, name)) < 1:
                raise ValueError(f"NadeConfig.{name} must be >= 1, got {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"NadeConfig.dropout must lie in [0, 1), got {self.dropout}")



class RnnNadeModel(nn.Module):
    """LSTM over frames -> per-frame NADE biases -> exact frame log-likelihood."""

    def __init__(self, config: NadeConfig) -> None:
        super().__init__()
        self.config = config
        k, h, n = config.keys, config.hidden, config.nade_hidden
        self.rnn = nn.LSTM(k, h, num_layers=config.layers, batch_first=True,
                           dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.to_visible_bias = nn.Linear(h, k)  # b_t: one bias per key
        self.to_hidden_bias = nn.Linear(h, n)  # c_t: the NADE's hidden bias
        # Small weights: at the start every h_i ~ sigmoid(c) and the NADE behaves like
        # independent Bernoullis, which the LSTM biases fit within a few steps.
        self.encoder = nn.Parameter(torch.randn(k, n) * 0.01)  # W: key j's vote into h
        self.decoder = nn.Parameter(torch.randn(k, n) * 0.01)  # V: key i's read-out of h_i

    @property
    def family_name(self) -> str:
        return "rnn-nade"

    @property
    def state_names(self) -> list[str]:
        return ["h", "c"]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        shape = (self.config.layers, batch, self.config.hidden)
        return [torch.zeros(shape, device=device), torch.zeros(shape, device=device)]

    def conditioning(
        self, previous: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """previous [B, T, K] (frame t-1; zeros before a piece) -> b [B, T, K], c [B, T, N],
        state (each [layers, B, hidden])."""
        if state is None:
            state = self.initial_state(previous.shape[0], previous.device)
        # No dropout on the input: a frame with notes knocked out teaches the model that
        # the notes it hears may not be the ones played (a JSB run with 0.4 underfit).
        y, (h, c) = self.rnn(previous, (state[0], state[1]))  # y: [B, T, H]
        y = self.drop(y)
        return self.to_visible_bias(y), self.to_hidden_bias(y), [h, c]

    def key_logits(
        self, frames: torch.Tensor, visible_bias: torch.Tensor, hidden_bias: torch.Tensor
    ) -> torch.Tensor:
        """logit of p(v_i = 1 | v_<i) [B, T, K] for every key, the true frames [B, T, K] given."""
        votes = frames.unsqueeze(-1) * self.encoder  # [B, T, K, N]: v_j W_j
        # Exclusive cumulative sum: key i sees the votes of keys 0..i-1 only.
        before = torch.cumsum(votes, dim=-2) - votes  # [B, T, K, N]
        hidden = torch.sigmoid(hidden_bias.unsqueeze(-2) + before)  # [B, T, K, N]: h_i
        return visible_bias + (hidden * self.decoder).sum(-1)  # [B, T, K]

    def frame_log_loss(
        self, previous: torch.Tensor, frames: torch.Tensor,
        state: list[torch.Tensor] | None = None, mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """-log p(frame_t | frames before it) in nats [B, T], for previous and frames [B, T, K].
        (`mask` is for families whose loss is per piece; each frame's here is its own.)"""
        visible_bias, hidden_bias, _ = self.conditioning(previous, state)
        logits = self.key_logits(frames, visible_bias, hidden_bias)  # [B, T, K]
        per_key = F.binary_cross_entropy_with_logits(logits, frames, reduction="none")
        return per_key.sum(-1)  # [B, T]: the conditionals' -log p add up to the joint's

    def sample_frame(
        self, visible_bias: torch.Tensor, hidden_bias: torch.Tensor, uniform: torch.Tensor,
        temperature: torch.Tensor | float = 1.0, logit_bias: torch.Tensor | float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame drawn key by key: biases [B, K], [B, N], uniform [B, K] ->
        frame [B, K] (0./1.), logit of p(v_i = 1 | the keys drawn before) [B, K].

        Key i sounds when uniform_i < sigmoid(logit_i / temperature + logit_bias_i): a
        Bernoulli draw; a logit bias of -1e9 keeps a key silent. The logits returned are the
        model's own, before temperature and bias.
        """
        activation = hidden_bias  # [B, N]: c + the votes of the keys drawn so far
        keys, logits = [], []
        for i in range(self.config.keys):
            hidden = torch.sigmoid(activation)  # [B, N]
            logit = visible_bias[:, i] + hidden @ self.decoder[i]  # [B]
            p = torch.sigmoid(logit / temperature + logit_bias[..., i]
                              if torch.is_tensor(logit_bias) else logit / temperature)
            key = (uniform[:, i] < p).to(hidden.dtype)  # [B]: a Bernoulli(p) draw
            activation = activation + key.unsqueeze(-1) * self.encoder[i]
            keys.append(key)
            logits.append(logit)
        return torch.stack(keys, -1), torch.stack(logits, -1)

    def step(
        self, previous: torch.Tensor, uniform: torch.Tensor, state: list[torch.Tensor],
        temperature: torch.Tensor | float = 1.0, logit_bias: torch.Tensor | float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """One step for export: previous frame [B, K], uniform [B, K], state ->
        sampled frame [B, K], its keys' conditional logits [B, K], state."""
        visible_bias, hidden_bias, new_state = self.conditioning(previous.unsqueeze(1), state)
        frame, logits = self.sample_frame(visible_bias[:, 0], hidden_bias[:, 0], uniform,
                                          temperature, logit_bias)
        return frame, logits, new_state
