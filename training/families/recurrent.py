"""Recurrent token models over the events representation: LSTM, GRU and Elman RNN.

The three share one wrapper because their step interface is the same: a token and a
state in, logits and a state out. Only the LSTM carries a second state tensor (the cell).
Their config, `RecurrentConfig`, is in `token_configs.py` (torch-free, read by the CLI).
"""

from __future__ import annotations

import torch
from torch import nn

from antiphon.training.families.token_configs import RecurrentConfig

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}  # by token_configs.CELL_NAMES


class RecurrentTokenModel(nn.Module):
    """Embedding -> stacked recurrent layers -> linear head over the vocabulary."""

    def __init__(self, config: RecurrentConfig) -> None:
        super().__init__()
        if config.vocab_size <= 0:
            raise ValueError("RecurrentConfig.vocab_size must be set from the codec")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embedding)
        self.rnn = CELLS[config.cell](
            config.embedding,
            config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    @property
    def family_name(self) -> str:
        """The family the model card names: the cell type."""
        return self.config.cell

    @property
    def state_names(self) -> list[str]:
        return ["h", "c"] if self.config.cell == "lstm" else ["h"]

    def state_shape(self, batch: int) -> tuple[int, int, int]:
        return (self.config.layers, batch, self.config.hidden)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        shape = self.state_shape(batch)
        return [torch.zeros(shape, device=device) for _ in self.state_names]

    def forward(
        self, tokens: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """tokens [B, T] -> logits [B, T, V], state (each [layers, B, hidden])."""
        if state is None:
            state = self.initial_state(tokens.shape[0], tokens.device)
        x = self.embed(tokens)  # [B, T, E]
        packed_state = tuple(state) if self.config.cell == "lstm" else state[0]
        y, new_state = self.rnn(x, packed_state)  # y: [B, T, H]
        logits = self.head(self.drop(y))  # [B, T, V]
        new_state = list(new_state) if self.config.cell == "lstm" else [new_state]
        return logits, new_state

    def step(
        self, token: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One step for export: token [B] -> logits [B, V], state."""
        logits, new_state = self(token.unsqueeze(1), state)  # [B, 1, V]
        return logits.squeeze(1), new_state
