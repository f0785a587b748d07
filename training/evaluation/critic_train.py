"""Training of the answer critic (training/families/critic.py) on cached call/answer pairs
(critic_pairs.py): BCE on real continuations against sampled and other-tune answers,
early stopping on the validation split, held-out figures on the test split, export to
ONNX (critic_export.py).

`antiphon train-critic` (daemon/cli/critic_command.py) runs it, with the sampler that
answers calls as `antiphon continue` does.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from antiphon.engine.critic import pad_batch
from antiphon.training.evaluation.critic_examples import (
    OTHER,
    REAL,
    SAMPLED,
    Examples,
    held_out_figures,
    make_examples,
    transpose_tokens,
)
from antiphon.training.evaluation.critic_pairs import (
    COLLECTIONS,
    PairSet,
    Sampler,
    load_pairs,
)
from antiphon.training.families.critic import CriticConfig, CriticModel, parameter_count

log = logging.getLogger(__name__)

# Each call's two fakes weigh as much as its one real continuation together.
FAKE_WEIGHT = 0.5
BUCKET_BATCHES = 16  # batches drawn from one length-sorted bucket (less padding)
RANKING_WEIGHT = 1.0


@dataclass
class CriticTrainConfig:
    epochs: int = 50
    batch_size: int = 32  # calls per step (each with its real, sampled and other answer)
    lr: float = 2e-3
    weight_decay: float = 0.01
    transpose: tuple[int, int] = (-5, 6)  # semitones, call and answer together
    patience: int = 4  # epochs without a better validation loss before stopping
    seed: int = 0
    limit: int | None = None  # tunes per collection and split (quick runs)


def load_splits(collections: tuple[str, ...], limit: int | None, sampler: Sampler | None,
                workers: int | None = None) -> dict[str, list[PairSet]]:
    return {split: [load_pairs(name, split, sampler, limit=limit, workers=workers)
                    for name in collections]
            for split in ("train", "valid", "test")}


def merge(examples: list[Examples]) -> Examples:
    """One Examples of several; `pair_index` becomes a call number unique across them."""
    offsets = np.cumsum([0] + [int(e.pair_index.max(initial=-1)) + 1 for e in examples])
    return Examples([t for e in examples for t in e.tokens],
                    np.concatenate([e.labels for e in examples]),
                    [k for e in examples for k in e.kinds],
                    np.concatenate([e.pair_index + offset
                                    for e, offset in zip(examples, offsets, strict=False)]))


def join(first: Examples, second: Examples) -> Examples:
    """The examples of both, of the same calls (pair numbers kept)."""
    return Examples(first.tokens + second.tokens,
                    np.concatenate([first.labels, second.labels]),
                    first.kinds + second.kinds,
                    np.concatenate([first.pair_index, second.pair_index]))


def batches(examples: Examples, calls_per_batch: int, rng: np.random.Generator,
            transpose: tuple[int, int] | None):
    """(tokens, lengths, labels, real_position) tensors, each batch all the examples of
    `calls_per_batch` calls; `real_position` is, for each example, the batch row of its
    call's real continuation (-1 where there is none). Calls are shuffled, then sorted by
    length within buckets of BUCKET_BATCHES batches so a batch pads little; when asked,
    each call is transposed with its answers by one random shift."""
    order = np.argsort(examples.pair_index, kind="stable")
    calls, first = np.unique(examples.pair_index[order], return_index=True)
    members = np.split(order, first[1:])
    shuffled = rng.permutation(len(calls))
    bucket = calls_per_batch * BUCKET_BATCHES
    groups = []
    for start in range(0, len(shuffled), bucket):
        part = shuffled[start: start + bucket]
        part = part[np.argsort([len(examples.tokens[members[c][0]]) for c in part],
                               kind="stable")]
        groups += [part[i: i + calls_per_batch] for i in range(0, len(part), calls_per_batch)]
    for group in (groups[i] for i in rng.permutation(len(groups))):
        rows, sequences, real_position = [], [], []
        for call in group:
            shift = 0 if transpose is None else int(rng.integers(transpose[0],
                                                                 transpose[1] + 1))
            real = -1
            for row in members[call]:
                if examples.labels[row] > 0.5:
                    real = len(rows)
                rows.append(row)
                sequences.append(transpose_tokens(examples.tokens[row], shift))
            real_position += [real] * len(members[call])
        tokens, lengths = pad_batch(sequences)
        yield (torch.from_numpy(tokens), torch.from_numpy(lengths),
               torch.from_numpy(examples.labels[rows]), torch.tensor(real_position))


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    weights = torch.where(labels > 0.5, torch.ones_like(labels),
                          torch.full_like(labels, FAKE_WEIGHT))
    losses = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return (losses * weights).sum() / weights.sum()


def critic_loss(logits: torch.Tensor, labels: torch.Tensor,
                real_position: torch.Tensor) -> torch.Tensor:
    """Weighted BCE, plus a ranking term: each fake against its own call's real
    continuation, softplus(fake - real). Choosing among answers to one call is a ranking,
    and comparing answers to the same call leaves the call's own difficulty out."""
    loss = weighted_bce(logits, labels)
    ranked = (labels < 0.5) & (real_position >= 0)
    if bool(ranked.any()):
        gaps = logits[ranked] - logits[real_position[ranked]]
        loss = loss + RANKING_WEIGHT * nn.functional.softplus(gaps).mean()
    return loss


def validation_loss(model: CriticModel, examples: Examples, calls_per_batch: int) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for tokens, lengths, labels, real in batches(examples, calls_per_batch,
                                                     np.random.default_rng(0), None):
            total += float(critic_loss(model(tokens, lengths), labels, real)) * len(labels)
            count += len(labels)
    return total / max(count, 1)


def torch_scorer(model: CriticModel):
    """A held_out_figures score function over the torch model."""
    def score(sequences: list[np.ndarray]) -> np.ndarray:
        tokens, lengths = pad_batch(sequences)
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
    return score


def fit(model: CriticModel, train: list[PairSet], valid: list[PairSet],
        config: CriticTrainConfig, checkpoint: Path | None = None) -> dict:
    """Train with early stopping on the validation loss; `model` ends with the best
    weights. Returns the training record (epochs, losses, time)."""
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    valid_examples = merge([make_examples(p, np.random.default_rng(1)) for p in valid])
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    best_loss, best_state, best_epoch, stale = math.inf, None, 0, 0
    history = []
    started = time.monotonic()
    fixed = [make_examples(p, rng, (REAL, SAMPLED)) for p in train]  # encoded once
    for epoch in range(1, config.epochs + 1):
        # Other tunes are drawn again each epoch: more distinct wrong answers to learn from.
        examples = merge([join(known, make_examples(p, rng, (OTHER,)))
                          for known, p in zip(fixed, train, strict=True)])
        model.train()
        running, steps = 0.0, 0
        for tokens, lengths, labels, real in batches(examples, config.batch_size, rng,
                                                     config.transpose):
            loss = critic_loss(model(tokens, lengths), labels, real)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            running, steps = running + loss.item(), steps + 1
        loss_valid = validation_loss(model, valid_examples, config.batch_size)
        history.append({"epoch": epoch, "train_loss": running / max(steps, 1),
                        "valid_loss": loss_valid})
        log.info("epoch %d: train loss %.4f, valid loss %.4f (%.0f s)", epoch,
                 running / max(steps, 1), loss_valid, time.monotonic() - started)
        if loss_valid < best_loss:
            best_loss, best_epoch, stale = loss_valid, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint is not None:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"model_config": model.config.to_dict(), "state": best_state,
                            "epoch": epoch}, checkpoint)
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"best_epoch": best_epoch, "best_valid_loss": best_loss, "history": history,
            "seconds": round(time.monotonic() - started, 1)}


def train_critic(out: Path, export_path: Path | None, model_config: CriticConfig,
                 config: CriticTrainConfig, sampler: Sampler | None,
                 collections: tuple[str, ...] = COLLECTIONS, workers: int | None = None,
                 threads: int | None = None) -> dict:
    """The whole run: pairs (cached, else sampled with `sampler`), training, test figures,
    export. Returns the test figures (held_out_figures) under "test" and the record."""
    if threads:
        torch.set_num_threads(threads)
    splits = load_splits(collections, config.limit, sampler, workers)
    model = CriticModel(model_config)
    record = fit(model, splits["train"], splits["valid"], config, out / "best.pt")
    test = held_out_figures(torch_scorer(model), splits["test"], seed=config.seed)
    data = {split: {p.name: len(p) for p in sets} for split, sets in splits.items()}
    training = {"model_config": model_config.to_dict(),
                "train_config": json_ready(asdict(config)), "data": data,
                "parameters": parameter_count(model), **record}
    if export_path is not None:
        from antiphon.training.evaluation.critic_export import export_critic

        description = (f"bidirectional LSTM ({model_config.hidden} per direction) telling "
                       "real continuations from sampled and other-tune answers")
        export_critic(model, export_path, "critic", description, training, {"test": test})
    return {"test": test, "training": training}


def json_ready(value):
    return list(value) if isinstance(value, tuple) else (
        {k: json_ready(v) for k, v in value.items()} if isinstance(value, dict) else value)


def figures_table(figures: dict[str, dict[str, float]]) -> str:
    """The held-out figures as a markdown table."""
    lines = ["| calls | pairs | real > sampled | real > other tune | accuracy (real, sampled) "
             "| accuracy (real, other tune) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in figures.items():
        lines.append(f"| {name} | {int(row['pairs'])} | {row['real_vs_sampled']:.3f} | "
                     f"{row['real_vs_other']:.3f} | {row['accuracy_sampled']:.3f} | "
                     f"{row['accuracy_other']:.3f} |")
    return "\n".join(lines)
