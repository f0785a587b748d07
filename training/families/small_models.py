"""The small models the source projects described, trained by the one training loop:

- "melody-lstm": one LSTM layer over the 16th-note grid of a key-normalised melody
  (HOLD / REST / NOTE tokens, `data.melodies.grid_tokens`), scored in nats per 16th;
- "pitch-duration-lstm": one LSTM layer over melody notes with two heads, the next note's
  pitch and its duration class, scored by both accuracies against the stratified dummy.

They are measured through torch on the test split of the corpora they were trained on
(their representations are not ones the engine plays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from antiphon.training.data.melodies import DURATION_SIXTEENTHS, GRID_VOCAB
from antiphon.training.data.tokens import TokenSplit

GRID_BOS = GRID_VOCAB  # each piece starts with it
PITCH_BOS, DURATION_BOS = 128, len(DURATION_SIXTEENTHS)


@dataclass
class MelodyConfig:
    embedding: int = 64
    hidden: int = 128



class MelodyLstm(nn.Module):
    def __init__(self, config: MelodyConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(GRID_VOCAB + 1, config.embedding)
        self.rnn = nn.LSTM(config.embedding, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, GRID_VOCAB + 1)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, None]:
        y, _ = self.rnn(self.embed(tokens))
        return self.head(y), None


@dataclass
class PitchDurationConfig:
    pitch_embedding: int = 48
    duration_embedding: int = 16
    hidden: int = 128



class PitchDurationLstm(nn.Module):
    def __init__(self, config: PitchDurationConfig) -> None:
        super().__init__()
        self.config = config
        self.pitch_embed = nn.Embedding(PITCH_BOS + 1, config.pitch_embedding)
        self.duration_embed = nn.Embedding(DURATION_BOS + 1, config.duration_embedding)
        self.rnn = nn.LSTM(config.pitch_embedding + config.duration_embedding, config.hidden,
                           batch_first=True)
        # BOS is a class too: training windows run across pieces, where it means "the end".
        self.pitch_head = nn.Linear(config.hidden, PITCH_BOS + 1)
        self.duration_head = nn.Linear(config.hidden, DURATION_BOS + 1)

    def forward(self, notes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """notes [B, T, 2] (pitch, duration class) -> logits of the next pitch [B, T, 129]
        and of its duration class [B, T, classes + 1]."""
        x = torch.cat([self.pitch_embed(notes[..., 0]), self.duration_embed(notes[..., 1])], -1)
        y, _ = self.rnn(x)
        return self.pitch_head(y), self.duration_head(y)


def flat_split(pieces: list[np.ndarray], bos: np.ndarray) -> TokenSplit:
    """Pieces back to back, each after a BOS row (tokens [N] or notes [N, 2])."""
    arrays = [np.concatenate([bos[None] if bos.ndim else bos.reshape(1), piece])
              for piece in pieces]
    lengths = [len(a) for a in arrays]
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return TokenSplit(np.concatenate(arrays).astype(np.int64), starts)


def windows(split: TokenSplit, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    starts = rng.integers(0, len(split) - length - 1, size=batch)
    return split.tokens[starts[:, None] + np.arange(length + 1)]


@dataclass
class MelodyTask:
    splits: dict[str, TokenSplit]  # grid tokens, BOS first
    unit: str = "sixteenth"

    def model_config(self, model_config: dict) -> dict:
        return model_config

    def train_units(self) -> int:
        return len(self.splits["train"])

    def loss(self, model, rng, config) -> torch.Tensor:
        batch = torch.from_numpy(windows(self.splits["train"], config.batch_size,
                                         config.window, rng)).to(config.device)
        logits, _ = model(batch[:, :-1])
        return F.cross_entropy(logits.transpose(1, 2), batch[:, 1:])

    @torch.no_grad()
    def evaluate(self, model, split, config) -> dict[str, float]:
        model.eval()
        data, nll, right, count = self.splits[split], 0.0, 0, 0
        for index in range(data.pieces):
            piece = torch.from_numpy(data.piece(index))[None].to(config.device)
            logits, _ = model(piece[:, :-1])
            nll += float(F.cross_entropy(logits[0], piece[0, 1:], reduction="sum"))
            right += int((logits[0].argmax(-1) == piece[0, 1:]).sum())
            count += piece.shape[1] - 1
        return {"nll": nll / count, "accuracy": right / count}

    def checkpoint_fields(self) -> dict:
        return {"codec": {"representation": "melody-16th-grid", "vocab": GRID_VOCAB + 1}}


@dataclass
class PitchDurationTask:
    splits: dict[str, TokenSplit]  # notes [N, 2], BOS rows first
    unit: str = "note"

    def model_config(self, model_config: dict) -> dict:
        return model_config

    def train_units(self) -> int:
        return len(self.splits["train"])

    def loss(self, model, rng, config) -> torch.Tensor:
        batch = torch.from_numpy(windows(self.splits["train"], config.batch_size,
                                         config.window, rng)).to(config.device)  # [B, T+1, 2]
        pitch, duration = model(batch[:, :-1])
        return (F.cross_entropy(pitch.transpose(1, 2), batch[:, 1:, 0])
                + F.cross_entropy(duration.transpose(1, 2), batch[:, 1:, 1]))

    @torch.no_grad()
    def evaluate(self, model, split, config) -> dict[str, float]:
        """nll: nats per note (pitch and duration together); both accuracies."""
        model.eval()
        data = self.splits[split]
        nll, pitch_right, duration_right, count = 0.0, 0, 0, 0
        for index in range(data.pieces):
            piece = torch.from_numpy(data.piece(index))[None].to(config.device)
            pitch, duration = model(piece[:, :-1])
            target = piece[0, 1:]
            nll += float(F.cross_entropy(pitch[0], target[:, 0], reduction="sum")
                         + F.cross_entropy(duration[0], target[:, 1], reduction="sum"))
            pitch_right += int((pitch[0].argmax(-1) == target[:, 0]).sum())
            duration_right += int((duration[0].argmax(-1) == target[:, 1]).sum())
            count += len(target)
        return {"nll": nll / count, "accuracy": pitch_right / count,
                "pitch_accuracy": pitch_right / count,
                "duration_accuracy": duration_right / count}

    def checkpoint_fields(self) -> dict:
        return {"codec": {"representation": "melody-notes",
                          "duration_sixteenths": list(DURATION_SIXTEENTHS)}}
