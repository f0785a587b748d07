"""What `antiphon eval` prints for a VAE checkpoint beside its NLL bound: how well it
reconstructs a piece from the piece's own code, and whether what it samples loops.

- Reconstruction BCE: -log p(piece | z = the mean of q(z | piece)), summed over keys,
  per frame, each piece decoded from its first frame (the "recon loss" two VAEs are
  compared by; unlike the NLL bound it leaves out the KL of the code).
- Repeated frames: the share of frames equal to the frame before them, in the test data
  and in what the model samples after test pieces (the note-density protocol: 32 frames
  at temperature 1 after each of the first 20 pieces, seed 0), and the distinct keys per
  sampled 32 frames beside the data's per 32-frame stretch. A model that loops its
  commonest notes repeats more, and plays fewer keys, than the music it learned from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from antiphon.training.evaluation.note_density import DENSITY_FRAMES, DENSITY_PIECES
from antiphon.training.fit.frame_pipeline import padded_frames

PIECES_PER_BATCH = 16


@torch.no_grad()
def reconstruction_bce(model: nn.Module, rolls: Sequence[np.ndarray]) -> float:
    """Mean -log p(frame | earlier frames, z = posterior mean) in nats per frame."""
    model.eval()
    order = np.argsort([len(roll) for roll in rolls])  # similar lengths together
    total, frames = 0.0, 0
    for first in range(0, len(order), PIECES_PER_BATCH):
        pieces = [rolls[i] for i in order[first:first + PIECES_PER_BATCH]]
        inputs, targets, mask = map(torch.from_numpy, padded_frames(pieces, [None] * len(pieces)))
        mean, _ = model.encode(targets, mask.sum(dim=1))  # [B, Z]
        logits, _ = model.decode_logits(inputs, mean)  # [B, T, K]
        per_key = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        total += float(per_key.sum(-1)[mask].double().sum())
        frames += int(mask.sum())
    return total / frames


def repeated_share(roll: np.ndarray) -> float:
    """Share of a roll's frames (after its first) equal to the frame before."""
    roll = np.asarray(roll, dtype=bool)
    return float((roll[1:] == roll[:-1]).all(axis=1).mean()) if len(roll) > 1 else 0.0


def distinct_keys(roll: np.ndarray, frames: int = DENSITY_FRAMES) -> float:
    """Mean number of keys sounding at least once per stretch of `frames` frames."""
    roll = np.asarray(roll, dtype=bool)
    stretches = [roll[start:start + frames] for start in range(0, len(roll), frames)]
    return float(np.mean([stretch.any(axis=0).sum() for stretch in stretches]))


@torch.no_grad()
def sampled_after(model: nn.Module, primers: Sequence[np.ndarray], frames: int,
                  seed: int = 0) -> list[np.ndarray]:
    """The `frames` frames the model's own step draws after each primer (temperature 1),
    drawn as `frame_pipeline.note_density` draws them."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    answers = []
    for primer in primers:
        keys = primer.shape[1]
        state, previous = model.initial_state(1), torch.zeros(1, keys)
        for frame in primer:  # listen: nothing is drawn
            _, _, state = model.step(previous, torch.ones(1, keys), state)
            previous = torch.from_numpy(frame.astype(np.float32))[None]
        drawn = []
        for _ in range(frames):
            uniform = torch.rand(previous.shape, generator=generator)
            previous, _, state = model.step(previous, uniform, state)
            drawn.append(previous[0].numpy().astype(bool))
        answers.append(np.stack(drawn))
    return answers


def vae_figures(model: nn.Module, rolls: Sequence[np.ndarray]) -> dict[str, float]:
    """The figures above for a VAE on test `rolls`, named as `antiphon eval` prints them."""
    answers = sampled_after(model, rolls[:DENSITY_PIECES], DENSITY_FRAMES)
    return {
        "reconstruction BCE per frame": reconstruction_bce(model, rolls),
        "repeated frames, sampled": float(np.mean([repeated_share(a) for a in answers])),
        "distinct keys per 32 frames, sampled": float(np.mean([distinct_keys(a)
                                                               for a in answers])),
    }


def data_figures(rolls: Sequence[np.ndarray]) -> dict[str, float]:
    """The data's side of `vae_figures`, over every test piece."""
    return {
        "repeated frames, data": float(np.mean([repeated_share(r) for r in rolls])),
        "distinct keys per 32 frames, data": float(np.mean([distinct_keys(r) for r in rolls])),
    }
