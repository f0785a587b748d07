"""Piano-roll frames as a training task: random crops, transposition, NLL per frame.

A split is a list of binary rolls, bool [frames, keys] (the benchmark loaders' output).
A frame family predicts frame t from the frames before it, so its input at t is frame
t - 1, all zeros before a piece's first frame (which is thus predicted "from nothing", as
the benchmark protocol scores it). The family supplies its own exact NLL via
`frame_log_loss(previous, frames) -> [B, T]` nats per frame; the task averages it over
the real (unpadded) frames, so valid and test figures are the protocol's frame-level NLL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from antiphon.engine.pianoroll import PianoRollCodecConfig
from antiphon.training.data.rolls import transpose_rolls
from antiphon.training.evaluation.note_density import DENSITY_FRAMES, DENSITY_PIECES

if TYPE_CHECKING:
    from antiphon.training.fit.train_config import TrainConfig

# Frames in one evaluation batch (pieces x padded length): a NADE holds a [frames, keys,
# nade_hidden] activation, so this bounds memory on the long Nottingham tunes.
EVAL_FRAMES_PER_BATCH = 4096


def padded_frames(
    rolls: Sequence[np.ndarray], previous: Sequence[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A right-padded batch: model inputs [B, T, K] (each roll's frames shifted by one,
    starting with `previous[i]` or zeros), targets [B, T, K] and a mask [B, T] of real frames."""
    width = max(len(roll) for roll in rolls)
    keys = rolls[0].shape[1]
    inputs = np.zeros((len(rolls), width, keys), dtype=np.float32)
    targets = np.zeros((len(rolls), width, keys), dtype=np.float32)
    mask = np.zeros((len(rolls), width), dtype=bool)
    for row, (roll, before) in enumerate(zip(rolls, previous, strict=True)):
        n = len(roll)
        targets[row, :n] = roll
        inputs[row, 1:n] = roll[:-1]
        if before is not None:
            inputs[row, 0] = before
        mask[row, :n] = True
    return inputs, targets, mask


def sample_crops(
    rolls: Sequence[np.ndarray], batch: int, window: int, rng: np.random.Generator,
    transpose: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A training batch of crops of up to `window` frames (`padded_frames`' three arrays).

    Pieces are drawn in proportion to their length, so every train frame is equally likely
    to be seen; a crop that starts inside a piece gets the true frame before it as input.
    """
    lengths = np.array([len(roll) for roll in rolls])
    chosen = rng.choice(len(rolls), size=batch, p=lengths / lengths.sum())
    crops, previous = [], []
    for index in chosen:
        roll = rolls[index]
        start = int(rng.integers(0, max(1, len(roll) - window + 1)))
        crops.append(roll[start : start + window])
        previous.append(roll[start - 1] if start > 0 else None)
    low, high = transpose
    if (low, high) != (0, 0):
        shifts = rng.integers(low, high + 1, size=batch)
        both = transpose_rolls([np.concatenate([p[None] if p is not None else
                                                np.zeros_like(c[:1]), c])
                                for p, c in zip(previous, crops, strict=True)], shifts)
        crops = [joined[1:] for joined in both]
        previous = [joined[0] if p is not None else None
                    for joined, p in zip(both, previous, strict=True)]
    return padded_frames(crops, previous)


@torch.no_grad()
def frame_nll_of(model: nn.Module, rolls: Sequence[np.ndarray], device: str = "cpu") -> float:
    """Mean -log p(frame | earlier frames) in nats over every frame of every piece, each
    piece from its first frame (the benchmark protocol)."""
    model.eval()
    order = np.argsort([len(roll) for roll in rolls])  # similar lengths together
    total, frames, first = 0.0, 0, 0
    while first < len(order):
        # Grow the batch while its padded size stays within budget (at least one piece).
        last = first + 1
        while last < len(order) and (last + 1 - first) * len(rolls[order[last]]) <= (
            EVAL_FRAMES_PER_BATCH
        ):
            last += 1
        pieces = [rolls[i] for i in order[first:last]]
        inputs, targets, mask = padded_frames(pieces, [None] * len(pieces))
        mask_t = torch.from_numpy(mask).to(device)
        losses = model.frame_log_loss(torch.from_numpy(inputs).to(device),
                                      torch.from_numpy(targets).to(device), mask=mask_t)
        total += float(losses[mask_t].double().sum())
        frames += int(mask.sum())
        first = last
    if frames == 0:
        raise ValueError("there are no frames to score")
    return total / frames


@dataclass
class FrameTask:
    """Frame families over binary piano rolls (e.g. the JSB / Nottingham benchmarks)."""

    splits: dict[str, list[np.ndarray]]  # split name -> rolls, bool [frames, keys]
    codec: PianoRollCodecConfig = field(
        default_factory=lambda: PianoRollCodecConfig(distinguish_onsets=False)
    )
    unit: str = "frame"

    def __post_init__(self) -> None:
        for name, rolls in self.splits.items():
            if not rolls:
                raise ValueError(f"the {name} split has no pieces")
            for roll in rolls:
                if roll.ndim != 2 or roll.shape[1] != self.codec.keys:
                    raise ValueError(f"{name} rolls must be [frames, {self.codec.keys}], "
                                     f"got {roll.shape}")

    def model_config(self, model_config: dict) -> dict:
        return {**model_config, "keys": self.codec.keys}

    def train_units(self) -> int:
        return sum(len(roll) for roll in self.splits["train"])

    def loss(self, model, rng, config) -> torch.Tensor:
        inputs, targets, mask = sample_crops(self.splits["train"], config.batch_size,
                                             config.window, rng, tuple(config.transpose))
        device = config.device
        mask_t = torch.from_numpy(mask).to(device)
        losses = model.frame_log_loss(torch.from_numpy(inputs).to(device),
                                      torch.from_numpy(targets).to(device), mask=mask_t)
        return losses[mask_t].mean()

    def evaluate(self, model, split, config) -> dict[str, float]:
        nll = frame_nll_of(model, self.splits[split], config.device)
        if not math.isfinite(nll):
            raise FloatingPointError(f"{split} NLL is {nll}")
        return {"nll": nll}

    def checkpoint_fields(self) -> dict:
        return {"codec": asdict(self.codec)}


def train_on_benchmark(
    path: str, run_dir: str, model_config: dict, config: TrainConfig, family: str = "rnn-nade"
) -> dict[str, float]:
    """Train `family` on a benchmark file (`.mat` / `.json`), then score its test split.

    Returns the best checkpoint's metrics, test_nll_per_frame included (also written into
    best.pt, beside the floors of frame_baselines for the same file).
    """
    # Imported here: train imports checkpoint, which imports every family module.
    from pathlib import Path

    from antiphon.training.data.benchmarks import frames_per_beat, load_benchmark
    from antiphon.training.evaluation.frame_baselines import baseline_nlls
    from antiphon.training.fit.checkpoint import add_test_metrics
    from antiphon.training.fit.distributed import is_main_process
    from antiphon.training.fit.loop import train_task

    rolls = load_benchmark(path)
    codec = PianoRollCodecConfig(frames_per_beat=frames_per_beat(path),
                                 distinguish_onsets=False)
    task = FrameTask(rolls, codec)
    floors = baseline_nlls(rolls["train"], rolls["test"])
    baselines = {f"test_{name}_nll_per_frame": value for name, value in floors.items()}
    data = {"benchmark": Path(path).name,
            "pieces": {name: len(split) for name, split in rolls.items()},
            "frames": {name: sum(len(r) for r in split) for name, split in rolls.items()},
            "augmentation": f"random transposition {tuple(config.transpose)} per crop"}
    best = train_task(run_dir, task, model_config, config, data=data, baselines=baselines,
                      family=family)
    if not is_main_process():
        return {}  # a torchrun worker: rank 0 scores and reports
    if family == "bar-gan":  # no likelihood: its bars beside the real ones, on the test split
        from antiphon.training.fit.gan_loop import bar_check

        return add_test_metrics(best, lambda model: {
            f"test_{name}": value for name, value in bar_check(model, rolls["test"]).items()})

    def score(model: nn.Module) -> dict[str, float]:
        # What it plays, beside the data: notes per frame of 32 frames sampled after each
        # of the first 20 test pieces (as primers), and of the test split itself.
        return {
            "test_nll_per_frame": frame_nll_of(model.to(config.device), rolls["test"],
                                               config.device),
            "test_note_density_sampled": note_density(
                model.cpu(), rolls["test"][:DENSITY_PIECES], DENSITY_FRAMES),
            "test_note_density_data": float(np.mean(np.concatenate(
                [roll.sum(axis=1) for roll in rolls["test"]]))),
        }

    return add_test_metrics(best, score)


@torch.no_grad()
def note_density(model: nn.Module, primers: list[np.ndarray], frames: int,
                 seed: int = 0) -> float:
    """Mean notes per frame of `frames` frames sampled (temperature 1) after each primer
    roll, with the model's own step (any frame family): what it plays, to set beside the
    data's density (`roll.sum(1).mean()`)."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for primer in primers:
        state = model.initial_state(1)
        previous = torch.zeros(1, primer.shape[1])
        for frame in primer:  # listen: the samples are the primer's own frames
            _, _, state = model.step(previous, torch.ones(1, primer.shape[1]), state)
            previous = torch.from_numpy(frame.astype(np.float32))[None]
        for _ in range(frames):
            uniform = torch.rand(previous.shape, generator=generator)
            previous, _, state = model.step(previous, uniform, state)
            total += float(previous.sum())
            count += 1
    return total / max(count, 1)
