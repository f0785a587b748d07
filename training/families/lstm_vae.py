"""LSTM-VAE over piano-roll phrases (after MusicVAE, Roberts et al. 2018, without its
hierarchical decoder).

A bidirectional LSTM reads a whole phrase and gives the mean and log-variance of a latent
code z; an LSTM decoder, fed z at every step beside the previous frame, gives each key's
probability in the next frame (keys independent given z and the past: a Bernoulli draw
per key in the step graph). Nearby codes decode to related phrases, which is what makes
"bridge from phrase A to phrase B" work: decode the codes on the line between theirs.

Training maximises the ELBO, recon + beta * KL, with beta raised from 0 to 1 over
`kl_anneal_steps` (KL annealing) and an optional free-bits floor per latent dimension:
both keep the decoder from ignoring z (posterior collapse), which an autoregressive
decoder is otherwise quick to do.

Held-out NLL: a VAE has no exact likelihood. In eval mode `frame_log_loss` returns the
importance-weighted bound (IWAE, Burda et al. 2016) with `importance_samples` codes per
piece, spread evenly over the piece's frames: an upper bound on the true NLL in nats per
frame (tighter than the ELBO), so it compares conservatively with exact figures.

Playing: the exported step graph carries z as a state tensor; the engine starts it at
zero, the prior's mean, so a live answer is the decoder's continuation of what it heard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence


@dataclass
class VaeConfig:
    keys: int = 88  # keys per frame
    hidden: int = 256  # width of the encoder (each direction) and decoder LSTMs
    latent: int = 32  # size of z
    dropout: float = 0.2  # on the decoder's output (training only)
    kl_anneal_steps: int = 2000  # beta rises linearly from 0 to 1 over these training steps
    free_bits: float = 0.0  # nats per latent dimension of KL left unpenalised (training)
    importance_samples: int = 8  # codes per piece for the held-out bound

    def __post_init__(self) -> None:
        for name in ("keys", "hidden", "latent", "importance_samples"):
            if (value := getattr(self, name)) < 1:
                raise ValueError(f"VaeConfig.{name} must be >= 1, got {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"VaeConfig.dropout must lie in [0, 1), got {self.dropout}")
        if self.kl_anneal_steps < 0 or self.free_bits < 0:
            raise ValueError("VaeConfig.kl_anneal_steps and free_bits must be >= 0")



class LstmVaeModel(nn.Module):
    def __init__(self, config: VaeConfig) -> None:
        super().__init__()
        self.config = config
        k, h, z = config.keys, config.hidden, config.latent
        self.encoder = nn.LSTM(k, h, batch_first=True, bidirectional=True)
        self.to_mean = nn.Linear(2 * h, z)
        self.to_log_variance = nn.Linear(2 * h, z)
        self.decoder = nn.LSTM(k + z, h, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.to_logits = nn.Linear(h, k)
        # Training steps taken, for the KL annealing; saved with the weights, so a resumed
        # run goes on with the beta it had.
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @property
    def family_name(self) -> str:
        return "lstm-vae"

    @property
    def state_names(self) -> list[str]:
        return ["h", "c", "z"]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        h = self.config.hidden
        return [torch.zeros(1, batch, h, device=device), torch.zeros(1, batch, h, device=device),
                torch.zeros(batch, self.config.latent, device=device)]

    # -- the parts ------------------------------------------------------------------------
    def encode(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
        """frames [B, T, K], lengths [B] -> mean, log-variance [B, Z] of q(z | phrase)."""
        packed = pack_padded_sequence(frames, lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, (h, _) = self.encoder(packed)  # h: [2, B, H], the two directions' last states
        summary = torch.cat([h[0], h[1]], dim=-1)  # [B, 2H]
        return self.to_mean(summary), self.to_log_variance(summary).clamp(-10.0, 10.0)

    def decode_logits(self, previous: torch.Tensor, z: torch.Tensor,
                      state: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, list]:
        """previous [B, T, K], z [B, Z] -> key logits [B, T, K], (h, c)."""
        steps = previous.shape[1]
        inputs = torch.cat([previous, z.unsqueeze(1).expand(-1, steps, -1)], dim=-1)
        y, (h, c) = self.decoder(inputs, None if state is None else (state[0], state[1]))
        return self.to_logits(self.drop(y)), [h, c]

    def kl_weight(self) -> float:
        anneal = self.config.kl_anneal_steps
        return 1.0 if anneal == 0 else min(1.0, float(self.steps) / anneal)

    # -- the loss -------------------------------------------------------------------------
    def frame_log_loss(self, previous: torch.Tensor, frames: torch.Tensor,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-frame loss [B, T] whose sum over a piece's real frames (`mask`) is its
        training objective (recon + beta * KL) or, in eval mode, its IWAE bound on -log p."""
        if mask is None:
            mask = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
        lengths = mask.sum(dim=1).clamp(min=1)  # [B]
        mean, log_variance = self.encode(frames, lengths)
        if self.training:
            return self._training_loss(previous, frames, mask, lengths, mean, log_variance)
        return self._importance_bound(previous, frames, mask, lengths, mean, log_variance)

    def _recon(self, previous, frames, mask, z) -> torch.Tensor:
        logits, _ = self.decode_logits(previous, z)
        per_key = F.binary_cross_entropy_with_logits(logits, frames, reduction="none")
        return per_key.sum(-1) * mask  # [B, T]

    def _training_loss(self, previous, frames, mask, lengths, mean, log_variance):
        std = torch.exp(0.5 * log_variance)
        z = mean + std * torch.randn_like(std)
        recon = self._recon(previous, frames, mask, z)  # [B, T]
        kl = 0.5 * (mean.pow(2) + log_variance.exp() - 1.0 - log_variance)  # [B, Z]
        kl = kl.clamp(min=self.config.free_bits).sum(-1)  # [B]
        self.steps += 1
        spread = (self.kl_weight() * kl / lengths).unsqueeze(1)  # [B, 1]: per real frame
        return recon + spread * mask

    @torch.no_grad()
    def _importance_bound(self, previous, frames, mask, lengths, mean, log_variance):
        std = torch.exp(0.5 * log_variance)
        # Fixed noise: the same pieces get the same bound at every evaluation, so early
        # stopping compares epochs, not draws.
        generator = torch.Generator(device=std.device).manual_seed(0)
        log_weights = []
        for _ in range(self.config.importance_samples):
            noise = torch.randn(std.shape, generator=generator, device=std.device)
            z = mean + std * noise
            log_p_x = -self._recon(previous, frames, mask, z).sum(1)  # [B]
            log_p_z = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
            log_q_z = -0.5 * (noise.pow(2) + math.log(2 * math.pi) + log_variance).sum(-1)
            log_weights.append(log_p_x + log_p_z - log_q_z)
        stacked = torch.stack(log_weights)  # [S, B]
        log_p = torch.logsumexp(stacked, dim=0) - math.log(len(log_weights))  # [B]
        return (-log_p / lengths).unsqueeze(1) * mask  # [B, T]: the bound, per real frame

    # -- the step graph -------------------------------------------------------------------
    def step(self, previous: torch.Tensor, uniform: torch.Tensor, state: list[torch.Tensor],
             temperature: torch.Tensor | float = 1.0, logit_bias: torch.Tensor | float = 0.0,
             ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """previous frame [B, K], uniform [B, K], state (h, c, z) -> frame drawn [B, K]
        (each key a Bernoulli draw), its logits [B, K], state (z passed on unchanged)."""
        h, c, z = state
        logits, (h, c) = self.decode_logits(previous.unsqueeze(1), z, [h, c])
        logits = logits[:, 0]
        p = torch.sigmoid(logits / temperature + logit_bias)
        frame = (uniform < p).to(previous.dtype)
        return frame, logits, [h, c, z]
