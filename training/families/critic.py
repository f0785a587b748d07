"""The answer critic: a bidirectional LSTM that reads call + SEP + answer (the critic
vocabulary of engine/critic.py) and gives one logit, real continuation (high) against a
sampled or unrelated answer (low).

The backward direction is a second one-directional LSTM run over each sequence reversed
in place (its first `length` tokens reversed, the padding left after them), so neither
direction ever reads padding before a real token. That is exactly a bidirectional LSTM
over unpadded sequences, and it exports to ONNX as two plain LSTM ops with a gather, with
a batch dimension and no packed sequences. The states of both directions are pooled over
the real tokens (mean and max) into one vector, and a small head makes the logit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from antiphon.engine.critic import PAD, VOCAB_SIZE

FAMILY = "critic-bilstm"
MASKED_MAX = -1e4  # below any LSTM state (tanh keeps them in -1..1)


@dataclass
class CriticConfig:
    vocab_size: int = VOCAB_SIZE
    embedding: int = 64
    hidden: int = 64  # per direction: 8 answers of ~200 tokens score in a few ms
    head: int = 64  # width of the hidden layer of the head
    dropout: float = 0.2  # on the pooled vector (training only)

    def to_dict(self) -> dict:
        return asdict(self)


def reverse_padded(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first `length` entries reversed, the rest (padding) left in place.
    Works on [batch, time] and [batch, time, features]."""
    time = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)  # [1, T]
    last = (lengths - 1).unsqueeze(1)  # [B, 1]
    index = torch.where(time <= last, last - time, time)  # [B, T]
    if tokens.dim() == 3:
        index = index.unsqueeze(2).expand(-1, -1, tokens.shape[2])
    return torch.gather(tokens, 1, index)


class CriticModel(nn.Module):
    """tokens int64 [B, T] (right-padded), lengths int64 [B] -> logits float32 [B]."""

    def __init__(self, config: CriticConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CriticConfig()
        self.embed = nn.Embedding(config.vocab_size, config.embedding, padding_idx=PAD)
        self.forward_rnn = nn.LSTM(config.embedding, config.hidden, batch_first=True)
        self.backward_rnn = nn.LSTM(config.embedding, config.hidden, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Sequential(nn.Linear(4 * config.hidden, config.head), nn.ReLU(),
                                  nn.Linear(config.head, 1))

    @property
    def family_name(self) -> str:
        return FAMILY

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.clamp(min=1)
        embedded = self.embed(tokens)  # [B, T, E]
        ahead, _ = self.forward_rnn(embedded)  # [B, T, H]; padding comes after real tokens
        behind, _ = self.backward_rnn(reverse_padded(embedded, lengths))
        behind = reverse_padded(behind, lengths)  # back to the tokens' own order
        states = torch.cat([ahead, behind], dim=2)  # [B, T, 2H]
        time = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
        real = (time < lengths.unsqueeze(1)).unsqueeze(2).to(states.dtype)  # [B, T, 1]
        mean = (states * real).sum(dim=1) / lengths.unsqueeze(1).to(states.dtype)
        peak = torch.where(real > 0, states, torch.full_like(states, MASKED_MAX)).amax(dim=1)
        pooled = self.drop(torch.cat([mean, peak], dim=1))  # [B, 4H]
        return self.head(pooled).squeeze(1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
