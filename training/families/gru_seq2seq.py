"""GRU encoder-decoder over piano-roll frames: the past summarised, the next phrase rolled out.

An encoder GRU reads every frame, heard or played. The decoder GRU writes the frames
ahead, one at a time from its own last frame; at the start of each phrase of `phrase`
frames it is re-initialised from the encoder's summary of everything before. So it
continues a phrase for any length: past the first phrase, the encoder has read what the
decoder wrote and starts the next phrase from it. Keys are independent given the decoder
state (a Bernoulli draw per key in the step graph).

Phrases are counted from the start of the piece (or of the conversation), which keeps
every frame predicted from earlier frames only: its NLL is exact, in the benchmark
protocol, with the same phrase boundaries in training, scoring and playing.

Focal loss (Lin et al. 2017) is an option for training: a piano roll is mostly silent
keys, and down-weighting the easy ones ((1 - p_true)^gamma) pushes the model to spend its
effort on the notes; it also raises the note density of samples, which
`fit.frame_pipeline.note_density` sets beside the data's. Held-out figures are always plain NLL.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Seq2SeqConfig:
    keys: int = 88
    hidden: int = 256  # width of both GRUs
    phrase: int = 16  # frames the decoder writes before the encoder re-initialises it
    dropout: float = 0.2  # on the decoder's output (training only)
    focal_gamma: float = 0.0  # > 0: train with focal loss of this gamma instead of NLL

    def __post_init__(self) -> None:
        for name in ("keys", "hidden", "phrase"):
            if (value := getattr(self, name)) < 1:
                raise ValueError(f"Seq2SeqConfig.{name} must be >= 1, got {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Seq2SeqConfig.dropout must lie in [0, 1), got {self.dropout}")
        if self.focal_gamma < 0:
            raise ValueError(f"Seq2SeqConfig.focal_gamma must be >= 0, got {self.focal_gamma}")



class GruSeq2SeqModel(nn.Module):
    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        k, h = config.keys, config.hidden
        self.encoder = nn.GRUCell(k, h)
        self.bridge = nn.Linear(h, h)  # encoder summary -> decoder's first state
        self.decoder = nn.GRUCell(k, h)
        self.drop = nn.Dropout(config.dropout)
        self.to_logits = nn.Linear(h, k)

    @property
    def family_name(self) -> str:
        return "gru-seq2seq"

    @property
    def state_names(self) -> list[str]:
        return ["encoder", "decoder", "position"]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        h = self.config.hidden
        return [torch.zeros(batch, h, device=device), torch.zeros(batch, h, device=device),
                torch.zeros(1, dtype=torch.long, device=device)]

    def _advance(self, previous: torch.Tensor, state: list[torch.Tensor]
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Read frame t-1 [B, K]; returns the decoder output for frame t [B, H], state."""
        encoder, decoder, position = state
        encoder = self.encoder(previous, encoder)  # now a summary of every frame < t
        # Where a phrase starts at frame t, the decoder begins from that summary.
        starts = (position % self.config.phrase == 0).to(previous.dtype)  # [1]
        decoder = starts * torch.tanh(self.bridge(encoder)) + (1 - starts) * decoder
        decoder = self.decoder(previous, decoder)
        return decoder, [encoder, decoder, position + 1]

    def logits_over(self, previous: torch.Tensor) -> torch.Tensor:
        """previous [B, T, K] (frame t-1 at t; zeros before a piece) -> logits [B, T, K],
        phrases counted from t = 0."""
        state = self.initial_state(previous.shape[0], previous.device)
        outputs = []
        for t in range(previous.shape[1]):
            out, state = self._advance(previous[:, t], state)
            outputs.append(out)
        return self.to_logits(self.drop(torch.stack(outputs, dim=1)))

    def frame_log_loss(self, previous: torch.Tensor, frames: torch.Tensor,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-frame loss [B, T]: -log p(frame | earlier frames) in nats, or in training
        with focal_gamma > 0, the focal loss summed over keys."""
        logits = self.logits_over(previous)
        nll = F.binary_cross_entropy_with_logits(logits, frames, reduction="none")  # [B, T, K]
        gamma = self.config.focal_gamma
        if self.training and gamma > 0:
            p_true = torch.exp(-nll)
            nll = (1.0 - p_true).pow(gamma) * nll
        return nll.sum(-1)

    def step(self, previous: torch.Tensor, uniform: torch.Tensor, state: list[torch.Tensor],
             temperature: torch.Tensor | float = 1.0, logit_bias: torch.Tensor | float = 0.0,
             ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """previous frame [B, K], uniform [B, K], state -> frame drawn [B, K], logits, state."""
        out, state = self._advance(previous, state)
        logits = self.to_logits(out)
        frame = (uniform < torch.sigmoid(logits / temperature + logit_bias)).to(previous.dtype)
        return frame, logits, state
