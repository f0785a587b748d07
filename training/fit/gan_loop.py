"""Training the bar GAN (families/bar_gan.py) on piano rolls: pairs of bars, two players.

A training pair is a bar of a roll and the bar before it (zeros before a piece's first
frame, as the step graph starts from silence), cut at any frame, not only at bar lines:
the step graph's bars run from wherever the session began, not from the music's. Pairs
are transposed as the frame families' crops are.

Each step trains D once, then G once (the DCGAN recipe of the seed document):
- D: binary cross-entropy, summed over the batch rather than averaged, on real bars
  (label 1) and G's bars (label 0), each beside the same previous bar; L2 on D's weights
  (Adam's weight decay, `discriminator_l2`); a lower learning rate than G's.
- G: the summed BCE of D calling its bars real, plus `feature_matching` times the squared
  distance between the batch means of D's last hidden features on real and on generated
  bars (MidiNet's and Salimans et al.'s stabiliser).
Both use Adam with beta1 = 0.5 (DCGAN).

A GAN has no likelihood to stop on, so there is no early stopping: the run is a fixed
budget of epochs x steps. After each epoch the history records D's and G's losses and a
musical check on the valid split (notes per frame and the pitch-class histogram of G's
bars against the real bars after the same previous bars); best.pt is the last epoch's
checkpoint (written beside latest.pt, so `antiphon export runs/X/best.pt` works as for
every family).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.nn import functional as F

from antiphon.training.data.rolls import transpose_rolls
from antiphon.training.families.bar_gan import BarGanModel
from antiphon.training.fit.checkpoint import build_model, load_checkpoint, save_checkpoint
from antiphon.training.fit.train_config import TrainConfig

log = logging.getLogger(__name__)

REAL_LABEL = 0.9  # D's target for a real bar
VALID_PAIRS = 256  # (previous bar, bar) pairs of the valid split the epoch check reads


def bar_pair(roll: np.ndarray, start: int, frames: int) -> np.ndarray:
    """[2 * frames, K]: the `frames` frames before `start` (zeros before the roll's first)
    and the `frames` from `start`."""
    pair = np.zeros((2 * frames, roll.shape[1]), dtype=np.float32)
    begin = start - frames
    piece = roll[max(0, begin): start + frames]
    pair[2 * frames - len(piece):] = piece
    return pair


class RollTask(Protocol):
    """What the GAN takes from a training task (frame_pipeline.FrameTask): the splits'
    rolls, and the model config and checkpoint fields the task's codec gives."""

    splits: dict[str, list[np.ndarray]]

    def model_config(self, model_config: dict) -> dict: ...

    def train_units(self) -> int: ...

    def checkpoint_fields(self) -> dict: ...


def sample_bar_pairs(rolls: Sequence[np.ndarray], batch: int, frames: int,
                     rng: np.random.Generator, transpose: tuple[int, int] = (0, 0),
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(previous bars, bars), float32 [batch, frames, K] each, from rolls of at least
    `frames` frames, drawn in proportion to how many bars start in them."""
    starts = np.array([max(0, len(roll) - frames + 1) for roll in rolls])
    if starts.sum() == 0:
        raise ValueError(f"no roll has a whole bar of {frames} frames")
    chosen = rng.choice(len(rolls), size=batch, p=starts / starts.sum())
    pairs = [bar_pair(rolls[i], int(rng.integers(0, starts[i])), frames) for i in chosen]
    low, high = transpose
    if (low, high) != (0, 0):
        pairs = transpose_rolls(pairs, rng.integers(low, high + 1, size=batch))
    stacked = np.stack(pairs)
    return stacked[:, :frames], stacked[:, frames:]


def gan_losses(model: BarGanModel, previous: torch.Tensor, real: torch.Tensor
               ) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """D's loss on one batch, and a function giving G's loss on the same batch (to call
    after D's step, so G answers the D it now faces)."""
    z = model.sample_noise(len(real), device=real.device)
    fake = torch.sigmoid(model.generate_logits(z, previous))
    # Instance noise (Sonderby et al. 2017) on what D reads: binary real bars beside G's
    # probabilities are told apart by their values alone otherwise, and G, pushed to
    # saturate its outputs, stops learning.
    sigma = model.config.instance_noise
    real = real + sigma * torch.randn_like(real)
    fake = fake + sigma * torch.randn_like(fake)
    real_logit, real_features = model.discriminator(real, previous)
    fake_logit, _ = model.discriminator(fake.detach(), previous)
    # One-sided label smoothing (real bars labelled REAL_LABEL): D cannot grow certain,
    # so G keeps a gradient.
    d_loss = (F.binary_cross_entropy_with_logits(real_logit,
                                                 torch.full_like(real_logit, REAL_LABEL),
                                                 reduction="sum")
              + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit),
                                                   reduction="sum"))
    if model.config.mismatch > 0 and len(real) > 1:
        # Real bars after another pair's previous bar are fakes too (the matching-aware
        # discriminator of Reed et al. 2016): D must check that a bar follows its
        # condition, so G cannot ignore it.
        wrong_logit, _ = model.discriminator(real, previous.roll(1, dims=0))
        d_loss = d_loss + model.config.mismatch * F.binary_cross_entropy_with_logits(
            wrong_logit, torch.zeros_like(wrong_logit), reduction="sum")

    def g_loss() -> torch.Tensor:
        logit, features = model.discriminator(fake, previous)
        fooled = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit),
                                                    reduction="sum")
        target = real_features.detach().mean(0)
        matching = (features.mean(0) - target).pow(2).sum()
        return fooled + model.config.feature_matching * matching

    return d_loss, g_loss


def optimizers(model: BarGanModel) -> dict[str, torch.optim.Optimizer]:
    config = model.config
    return {
        "generator": torch.optim.Adam(model.generator_parameters(), lr=config.generator_lr,
                                      betas=(0.5, 0.999)),
        "discriminator": torch.optim.Adam(model.discriminator.parameters(),
                                          lr=config.discriminator_lr, betas=(0.5, 0.999),
                                          weight_decay=config.discriminator_l2),
    }


def train_step(model: BarGanModel, optimizer: dict, previous: torch.Tensor,
               real: torch.Tensor) -> tuple[float, float]:
    """One D step then one G step; returns (D's loss, G's loss) per pair of the batch."""
    d_loss, g_loss = gan_losses(model, previous, real)
    optimizer["discriminator"].zero_grad(set_to_none=True)
    d_loss.backward()
    optimizer["discriminator"].step()
    loss = g_loss()
    optimizer["generator"].zero_grad(set_to_none=True)
    loss.backward()
    optimizer["generator"].step()
    return d_loss.item() / len(real), loss.item() / len(real)


@torch.no_grad()
def bar_check(model: BarGanModel, rolls: Sequence[np.ndarray], pairs: int = VALID_PAIRS,
              seed: int = 0) -> dict[str, float]:
    """G's bars (thresholded, fixed noise) after real previous bars, beside the real bars:
    notes per frame of each, and the L1 distance of their pitch-class shares."""
    model.eval()
    rng = np.random.default_rng(seed)
    previous, real = sample_bar_pairs(rolls, pairs, model.config.bar_frames, rng)
    z = model.sample_noise(pairs, torch.Generator().manual_seed(seed))
    made = (model.generate_logits(z, torch.from_numpy(previous)) > 0).numpy()

    def pitch_classes(bars: np.ndarray) -> np.ndarray:
        per_key = bars.sum(axis=(0, 1))
        shares = np.bincount(np.arange(len(per_key)) % 12, weights=per_key, minlength=12)
        return shares / max(shares.sum(), 1.0)

    return {"notes_per_frame_generated": float(made.sum(-1).mean()),
            "notes_per_frame_real": float(real.sum(-1).mean()),
            "pitch_class_distance": float(np.abs(pitch_classes(made)
                                                 - pitch_classes(real)).sum())}


def train_gan(run_dir: str | Path, task: RollTask, model_config: dict, config: TrainConfig,
              data: dict | None = None, baselines: dict | None = None,
              on_epoch: Callable[[dict], None] | None = None, family: str = "bar-gan",
              ) -> Path:
    """Train (or resume) the bar GAN on `task`'s rolls in `run_dir` for `config.epochs`
    epochs of `config.steps_per_epoch` steps (batch_size pairs each, transposed by
    config.transpose); returns best.pt (the last epoch's: see the module docstring).
    `config.lr`, `window` and `patience` do not apply: the model config holds the two
    learning rates, a bar's length is the window, and nothing stops early."""
    run_dir = Path(run_dir)
    latest, best = run_dir / "latest.pt", run_dir / "best.pt"
    torch.manual_seed(config.seed)
    model = build_model(family, task.model_config(model_config)).to(config.device)
    model_config = asdict(model.config)
    optimizer = optimizers(model)
    steps = config.steps_per_epoch or max(1, task.train_units() // (
        config.batch_size * model.config.bar_frames))
    start_epoch, history = 1, []
    if latest.is_file():
        _, checkpoint = load_checkpoint(latest)
        model.load_state_dict(checkpoint["model"])
        for name, opt in optimizer.items():
            opt.load_state_dict(checkpoint["optimizer"][name])
        start_epoch = checkpoint["epoch"] + 1
        history = checkpoint["metrics"].get("history", [])
        log.info("resuming %s at epoch %d", run_dir, start_epoch)
    rng = np.random.default_rng([config.seed, start_epoch])
    train, frames = task.splits["train"], model.config.bar_frames
    for epoch in range(start_epoch, config.epochs + 1):
        began = time.perf_counter()
        model.train()
        losses = []
        for _ in range(steps):
            previous, real = sample_bar_pairs(train, config.batch_size, frames, rng,
                                              tuple(config.transpose))
            losses.append(train_step(model, optimizer,
                                     torch.from_numpy(previous).to(config.device),
                                     torch.from_numpy(real).to(config.device)))
        seconds = time.perf_counter() - began
        d_loss, g_loss = np.mean(losses, axis=0)
        check = bar_check(model.cpu(), task.splits["valid"])
        model.to(config.device)
        report = {"epoch": epoch, "discriminator_loss": float(d_loss),
                  "generator_loss": float(g_loss), "seconds": seconds,
                  **{f"valid_{name}": value for name, value in check.items()}}
        history.append(report)
        metrics = {**{f"valid_{name}": value for name, value in check.items()},
                   "history": history, **(baselines or {})}
        fields = dict(family=family, model_config=model_config, **task.checkpoint_fields(),
                      train_config=asdict(config), data=data or {}, epoch=epoch,
                      step=epoch * steps, metrics=metrics, model=model.state_dict(),
                      optimizer={name: opt.state_dict() for name, opt in optimizer.items()},
                      scheduler={})
        save_checkpoint(latest, **fields)
        save_checkpoint(best, **fields)
        log.info("epoch %d: D %.3f, G %.3f per pair; valid notes/frame %.2f generated, "
                 "%.2f real; pitch-class distance %.3f; %.0f s", epoch, d_loss, g_loss,
                 check["notes_per_frame_generated"], check["notes_per_frame_real"],
                 check["pitch_class_distance"], seconds)
        if on_epoch:
            on_epoch(report)
    if not best.is_file():
        raise RuntimeError(f"{run_dir}: training ended without a checkpoint")
    return best
