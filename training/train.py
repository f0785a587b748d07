"""The training loop for token models: AdamW, clipping, warmup + cosine, early stopping.

Each epoch draws random windows from the training tokens (transposed on the fly), then
measures held-out NLL per token on whole validation pieces. The best epoch's checkpoint
is kept beside the latest one, and a run resumes from the latest.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from antiphon.engine.codec import EventCodec
from antiphon.training.checkpoint import build_model, load_checkpoint, save_checkpoint
from antiphon.training.token_data import TokenSplit, padded_pieces, sample_windows

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 20  # upper bound; early stopping may end sooner
    steps_per_epoch: int = 0  # optimiser steps per epoch; 0 = one pass over the train tokens
    batch_size: int = 32  # windows per step
    window: int = 256  # tokens per window (the truncated back-propagation length)
    lr: float = 2e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    warmup_steps: int = 200  # linear warm-up before the cosine decay
    clip_norm: float = 1.0  # gradient norm clipping
    transpose: tuple[int, int] = (-5, 6)  # random transposition range, semitones
    patience: int = 3  # stop after this many epochs without a better valid NLL
    seed: int = 0  # seeds torch and the window sampler
    eval_batch: int = 32  # pieces per evaluation batch
    device: str = "cpu"  # "cpu" or "cuda"


@dataclass
class EpochReport:
    epoch: int
    train_nll: float
    valid_nll: float
    valid_accuracy: float
    tokens_per_second: float
    seconds: float
    metrics: dict = field(default_factory=dict)


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
    """Train (or resume) in `run_dir`; returns the path of the best checkpoint."""
    run_dir = Path(run_dir)
    latest, best = run_dir / "latest.pt", run_dir / "best.pt"
    torch.manual_seed(config.seed)
    model_config = {**model_config, "vocab_size": codec.vocab_size}
    model = build_model(family, model_config).to(config.device)
    model_config = asdict(model.config)  # every field, defaults included, goes in the checkpoint
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps = config.steps_per_epoch or max(1, len(splits["train"]) // (
        config.batch_size * config.window))
    total_steps = steps * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: learning_rate_factor(s, config.warmup_steps, total_steps)
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
        log.info("resuming %s at epoch %d", run_dir, start_epoch)
    rng = np.random.default_rng(config.seed + start_epoch)

    for epoch in range(start_epoch, config.epochs + 1):
        if stale >= config.patience:
            log.info("early stop: %d epochs without a better valid NLL", stale)
            break
        began = time.perf_counter()
        train_nll = _train_epoch(model, optimizer, scheduler, splits["train"], codec, config,
                                 steps, rng, epoch)
        seconds = time.perf_counter() - began
        valid_nll, valid_accuracy = evaluate(model, splits["valid"], config.device,
                                             config.eval_batch)
        improved = valid_nll < best_nll
        best_nll, stale = (valid_nll, 0) if improved else (best_nll, stale + 1)
        report = EpochReport(epoch, train_nll, valid_nll, valid_accuracy,
                             steps * config.batch_size * config.window / seconds, seconds)
        history.append(asdict(report))
        metrics = {"valid_nll_per_token": valid_nll, "valid_accuracy": valid_accuracy,
                   "best_valid_nll": best_nll, "epochs_without_improvement": stale,
                   "history": history, **(baselines or {})}
        fields = dict(family=family, model_config=model_config, codec=asdict(codec.config),
                      train_config=asdict(config), data=data or {}, epoch=epoch,
                      step=epoch * steps, metrics=metrics, model=model.state_dict(),
                      optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict())
        save_checkpoint(latest, **fields)
        if improved:
            save_checkpoint(best, **fields)
        if on_epoch:
            on_epoch(report)
    if not best.is_file():
        raise RuntimeError(f"{run_dir}: training ended without a checkpoint")
    return best


def _train_epoch(model, optimizer, scheduler, split, codec, config, steps, rng, epoch) -> float:
    model.train()
    losses = []
    bar = tqdm(range(steps), desc=f"epoch {epoch}", unit="step", leave=False,
               disable=None)  # None: no bar when stderr is not a terminal (CI logs)
    for _ in bar:
        windows = sample_windows(split, config.batch_size, config.window, rng, codec,
                                 config.transpose)
        batch = torch.from_numpy(windows).to(config.device)
        logits, _ = model(batch[:, :-1])  # [B, T, V]
        loss = nn.functional.cross_entropy(logits.transpose(1, 2), batch[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        rate = bar.format_dict["rate"]
        if rate:
            bar.set_postfix(loss=f"{losses[-1]:.3f}",
                            tok_s=f"{rate * config.batch_size * config.window:,.0f}")
    return float(np.mean(losses))
