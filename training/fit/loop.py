"""One training loop for every family: AdamW, clipping, warmup + cosine, early stopping.

What a family trains on and how it is scored comes from a small task object (a
`TrainingTask`): `TokenTask` draws random token windows (transposed on the fly) and
scores cross-entropy per token; `antiphon.training.fit.frame_pipeline.FrameTask` draws piano-roll
crops and scores the family's own NLL per frame. The loop itself is the same for both:
each epoch runs a number of optimiser steps on the task's batches, then measures held-out
NLL on whole validation pieces. The best epoch's checkpoint is kept beside the latest
one, and a run resumes from the latest. What it is told (`TrainConfig`) lives in
`train_config.py`, which the CLI reads without loading torch.

A run may be given a time budget (`TrainConfig.minutes`) instead of a number of epochs:
after its first epoch the loop knows what an epoch costs on this machine (its steps and
its validation), fits the number of epochs to the budget (`BudgetFit`), and the cosine
schedule ends with the last of them; early stopping still ends a run sooner. So one
configuration serves any budget and any machine: what changes is how many epochs it gets.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from antiphon.engine.codec import EventCodec
from antiphon.training.data.tokens import TokenSplit, padded_pieces, sample_windows
from antiphon.training.fit.checkpoint import build_model, load_checkpoint, save_checkpoint
from antiphon.training.fit.distributed import DistributedModel, join_world, leave_world
from antiphon.training.fit.train_config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class EpochReport:
    epoch: int
    train_nll: float
    valid_nll: float
    valid_accuracy: float  # next-token accuracy; NaN for a task that has none (frames)
    tokens_per_second: float  # the task's units (tokens or frames) trained per second
    seconds: float
    metrics: dict = field(default_factory=dict)
    unit: str = "token"  # what the NLL and the rate are per: "token" or "frame"


class TrainingTask(Protocol):
    """What the loop needs from a kind of data: batches, a loss, and a held-out score."""

    unit: str  # "token" or "frame": names the metrics (valid_nll_per_token, ...)

    def model_config(self, model_config: dict) -> dict:
        """The family's config with what the data fixes filled in (vocabulary, keys)."""

    def train_units(self) -> int:
        """Units (tokens, frames) in the train split: sizes an epoch when steps are not set."""

    def loss(self, model: nn.Module, rng: np.random.Generator, config: TrainConfig) -> torch.Tensor:
        """The mean NLL per unit of one random training batch (with its graph)."""

    def evaluate(self, model: nn.Module, split: str, config: TrainConfig) -> dict[str, float]:
        """{"nll": ..., and any other figure} over the whole pieces of a split."""

    def checkpoint_fields(self) -> dict:
        """Fields that go into every checkpoint beside the model (e.g. the codec config)."""


@torch.no_grad()
def evaluate(
    model: nn.Module, split: TokenSplit, device: str = "cpu", batch: int = 32
) -> tuple[float, float]:
    """(NLL per token in nats, next-token accuracy) over whole pieces, each from BOS."""
    model.eval()
    total_nll, total_right, total_count = 0.0, 0, 0
    order = np.argsort(np.diff(split.starts))  # similar lengths together: less padding
    for first in range(0, split.pieces, batch):
        tokens, mask = padded_pieces(split, order[first : first + batch])
        tokens = torch.from_numpy(tokens).to(device)
        target_mask = torch.from_numpy(mask[:, 1:]).to(device)
        logits, _ = model(tokens[:, :-1])  # [B, T-1, V]
        targets = tokens[:, 1:]
        nll = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        total_nll += float(nll[target_mask].sum())
        total_right += int((logits.argmax(-1) == targets)[target_mask].sum())
        total_count += int(target_mask.sum())
    return total_nll / total_count, total_right / total_count


@dataclass
class TokenTask:
    """Token families over the events representation: windows + cross-entropy."""

    codec: EventCodec
    splits: dict[str, TokenSplit]
    unit: str = "token"

    def model_config(self, model_config: dict) -> dict:
        return {**model_config, "vocab_size": self.codec.vocab_size}

    def train_units(self) -> int:
        return len(self.splits["train"])

    def loss(self, model, rng, config) -> torch.Tensor:
        windows = sample_windows(self.splits["train"], config.batch_size, config.window, rng,
                                 self.codec, config.transpose)
        batch = torch.from_numpy(windows).to(config.device)
        logits, _ = model(batch[:, :-1])  # [B, T, V]
        return nn.functional.cross_entropy(logits.transpose(1, 2), batch[:, 1:])

    def evaluate(self, model, split, config) -> dict[str, float]:
        nll, accuracy = evaluate(model, self.splits[split], config.device, config.eval_batch)
        return {"nll": nll, "accuracy": accuracy}

    def checkpoint_fields(self) -> dict:
        return {"codec": asdict(self.codec.config)}


@dataclass
class BudgetFit:
    """The epochs a time budget buys: the run's own epochs so far timed, the rest fitted
    so that the last one ends within the budget. Saved in the checkpoint's metrics, so a
    resumed run goes on with the budget it had left and the schedule it was on."""

    seconds: float  # the budget
    spent: float = 0.0  # seconds spent by the epochs so far (steps and validation)
    epochs: int = 0  # the epochs fitted to the budget (0: not yet, before the first)
    last: float = 0.0  # the latest epoch's seconds

    def after_epoch(self, seconds: float, epoch: int) -> None:
        """Count an epoch's `seconds`; after the first, fit the epochs to the budget."""
        self.spent += seconds
        self.last = seconds
        if not self.epochs:
            self.epochs = max(1, int(self.seconds / (self.spent / epoch)))

    def another_fits(self, epoch: int) -> bool:
        """Whether epoch `epoch + 1` is fitted and still ends within the budget (5 % over
        is within: the fit is in whole epochs), judged by the dearer of the latest epoch
        and the mean (a machine that got busy makes the next epoch dear too)."""
        cost = max(self.last, self.spent / epoch)
        return epoch < self.epochs and self.spent + cost <= self.seconds * 1.05


def learning_rate_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))


def train(
    run_dir: str | Path,
    codec: EventCodec,
    splits: dict[str, TokenSplit],
    model_config: dict,
    config: TrainConfig,
    data: dict | None = None,
    baselines: dict | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    family: str = "recurrent",
) -> Path:
    """Train (or resume) a token family in `run_dir`; returns the best checkpoint's path."""
    return train_task(run_dir, TokenTask(codec, splits), model_config, config, data=data,
                      baselines=baselines, on_epoch=on_epoch, family=family)


def train_task(
    run_dir: str | Path,
    task: TrainingTask,
    model_config: dict,
    config: TrainConfig,
    data: dict | None = None,
    baselines: dict | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    family: str = "recurrent",
) -> Path:
    """Train (or resume) any family on `task` in `run_dir`; returns the best checkpoint.

    Under `torchrun`, each process trains its share (`training.distributed`); rank 0
    writes the checkpoints."""
    if family == "bar-gan":  # two players and no likelihood: a loop of its own
        from antiphon.training.fit.gan_loop import train_gan

        return train_gan(run_dir, task, model_config, config, data=data,
                         baselines=baselines, family=family)
    run_dir = Path(run_dir)
    latest, best = run_dir / "latest.pt", run_dir / "best.pt"
    world = join_world(config.device)
    config = replace(config, device=world.device)
    torch.manual_seed(config.seed)  # the same initial weights in every process
    model = build_model(family, task.model_config(model_config)).to(config.device)
    trained = DistributedModel(model, world) if world.size > 1 else model
    model_config = asdict(model.config)  # every field, defaults included, goes in the checkpoint
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps = config.steps_per_epoch or max(1, task.train_units() // (
        config.batch_size * config.window))
    budget = BudgetFit(60.0 * config.minutes) if config.minutes > 0 else None
    # The schedule's length: the epochs asked for, or those the budget buys once the first
    # has been timed (the warm-up spans the first epoch, so the change comes before the
    # cosine begins).
    schedule = {"steps": steps * config.epochs}
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: learning_rate_factor(s, config.warmup_steps, schedule["steps"])
    )
    start_epoch, best_nll, stale, history = 1, math.inf, 0, []
    if latest.is_file():
        _, checkpoint = load_checkpoint(latest)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        start_epoch = checkpoint["epoch"] + 1
        best_nll = checkpoint["metrics"].get("best_valid_nll", math.inf)
        stale = checkpoint["metrics"].get("epochs_without_improvement", 0)
        history = checkpoint["metrics"].get("history", [])
        if budget is not None and "budget" in checkpoint["metrics"]:
            spent = checkpoint["metrics"]["budget"]
            # The same budget goes on where it was; a new one is fitted after this epoch.
            same = spent["seconds"] == budget.seconds
            budget = BudgetFit(budget.seconds, spent["spent"], spent["epochs"] if same else 0,
                               spent["last"])
            schedule["steps"] = steps * (budget.epochs or config.epochs)
        log.info("resuming %s at epoch %d", run_dir, start_epoch)
    # Each process its own batches; a resumed run does not replay the batches it has seen.
    rng = np.random.default_rng([config.seed, start_epoch, world.rank])
    unit = task.unit

    for epoch in itertools.count(start_epoch):
        if epoch > (budget.epochs if budget is not None and budget.epochs else config.epochs):
            break
        if stale >= config.patience:
            log.info("early stop: %d epochs without a better valid NLL", stale)
            break
        if budget is not None and budget.epochs and not budget.another_fits(epoch - 1):
            log.info("budget spent: %.1f of %.1f minutes, %d epochs", budget.spent / 60,
                     config.minutes, epoch - 1)
            break
        began = time.perf_counter()
        train_nll = _train_epoch(trained, optimizer, scheduler, task, config, steps, rng, epoch)
        seconds = time.perf_counter() - began
        valid = task.evaluate(model, "valid", config)
        if budget is not None:
            budget.after_epoch(time.perf_counter() - began, epoch)
            schedule["steps"] = steps * budget.epochs
        valid_nll, valid_accuracy = valid["nll"], valid.get("accuracy", math.nan)
        improved = valid_nll < best_nll
        best_nll, stale = (valid_nll, 0) if improved else (best_nll, stale + 1)
        report = EpochReport(epoch, train_nll, valid_nll, valid_accuracy,
                             world.size * steps * config.batch_size * config.window / seconds,
                             seconds, unit=unit)
        history.append(asdict(report))
        metrics = {f"valid_nll_per_{unit}": valid_nll,
                   **({"valid_accuracy": valid_accuracy} if "accuracy" in valid else {}),
                   "best_valid_nll": best_nll, "epochs_without_improvement": stale,
                   "history": history, **(baselines or {}),
                   **({"budget": asdict(budget)} if budget is not None else {})}
        fields = dict(family=family, model_config=model_config, **task.checkpoint_fields(),
                      train_config=asdict(config), data=data or {}, epoch=epoch,
                      step=epoch * steps, metrics=metrics, model=model.state_dict(),
                      optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict())
        if not world.is_main:
            continue
        save_checkpoint(latest, **fields)
        if improved:
            save_checkpoint(best, **fields)
        log.info("epoch %d: train %.4f, valid %.4f nats per %s (best %.4f), %.0f s",
                 epoch, train_nll, valid_nll, unit, best_nll, seconds)
        if on_epoch:
            on_epoch(report)
    leave_world(world)  # every process waits for rank 0's last checkpoint
    if not best.is_file():
        raise RuntimeError(f"{run_dir}: training ended without a checkpoint")
    return best


def _train_epoch(model, optimizer, scheduler, task, config, steps, rng, epoch) -> float:
    model.train()
    losses = []
    bar = tqdm(range(steps), desc=f"epoch {epoch}", unit="step", leave=False,
               disable=None)  # None: no bar when stderr is not a terminal (CI logs)
    # bfloat16 keeps float32's range, so no loss scaling is needed (unlike float16).
    autocast = torch.autocast("cuda", dtype=torch.bfloat16,
                              enabled=config.bf16 and config.device.startswith("cuda"))
    for _ in bar:
        with autocast:
            loss = task.loss(model, rng, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        rate = bar.format_dict["rate"]
        if rate:
            bar.set_postfix(loss=f"{losses[-1]:.3f}",
                            rate=f"{rate * config.batch_size * config.window:,.0f}/s")
    return float(np.mean(losses))
