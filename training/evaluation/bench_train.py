"""`antiphon bench train`: how many tokens (or frames) per second each family trains on.

One training step is what `antiphon.training.fit.loop` runs: a forward pass over a batch of
windows, the family's loss, backward, gradient clipping and an AdamW step. The batches are
random (token ids, or piano-roll frames with ~5% of keys down): the speed of a step does
not depend on what the notes are. Each family is timed at the size Antiphon trains it at,
on the CPU with every core torch is allowed, or on CUDA (`--device cuda`, bfloat16
autocast, as `training.train` runs there).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from antiphon.engine.codec import EventCodec
from antiphon.training.families.token_configs import TOKEN_FAMILY_DEFAULTS
from antiphon.training.fit.checkpoint import build_model
from antiphon.training.fit.train_config import TOKEN_TRAINING

WARMUP_STEPS = 3


@dataclass(frozen=True)
class FamilySpec:
    label: str
    family: str  # a key of checkpoint.FAMILIES
    config: dict  # the model config it trains at
    batch: int
    window: int  # tokens (or frames) per window
    unit: str  # "token" or "frame"


def family_specs(vocab_size: int) -> list[FamilySpec]:
    # the token families at what `antiphon train` trains them at
    recurrent = {**asdict(TOKEN_FAMILY_DEFAULTS["recurrent"]), "vocab_size": vocab_size}
    transformer = {**asdict(TOKEN_FAMILY_DEFAULTS["transformer"]), "vocab_size": vocab_size}
    batch, window = TOKEN_TRAINING.batch_size, TOKEN_TRAINING.window
    return [
        FamilySpec("LSTM 2x512 (the default model)", "recurrent", {**recurrent, "cell": "lstm"},
                   batch, window, "token"),
        FamilySpec("GRU 2x512", "recurrent", {**recurrent, "cell": "gru"}, batch, window,
                   "token"),
        FamilySpec("Elman RNN 2x512", "recurrent", {**recurrent, "cell": "rnn"}, batch, window,
                   "token"),
        FamilySpec("Transformer 4x256, 4 heads", "transformer", transformer, batch, window,
                   "token"),
        FamilySpec("RNN-NADE 256 / NADE 128", "rnn-nade",
                   {"hidden": 256, "nade_hidden": 128, "dropout": 0.2}, 8, 128, "frame"),
        FamilySpec("LSTM-VAE 256, z 32", "lstm-vae", {"hidden": 256, "latent": 32}, 8, 64,
                   "frame"),
        FamilySpec("Transformer-VAE 6+4x128, z 32", "transformer-vae", {}, 8, 64, "frame"),
        FamilySpec("GRU seq2seq 256, phrases of 16", "gru-seq2seq", {"hidden": 256}, 8, 128,
                   "frame"),
    ]


def batch_loss(model: nn.Module, spec: FamilySpec, device: str,
               generator: torch.Generator) -> torch.Tensor:
    if spec.unit == "token":
        vocab = spec.config["vocab_size"]
        tokens = torch.randint(0, vocab, (spec.batch, spec.window + 1), generator=generator)
        tokens = tokens.to(device)
        logits, _ = model(tokens[:, :-1])
        return nn.functional.cross_entropy(logits.transpose(1, 2), tokens[:, 1:])
    keys = model.config.keys
    frames = (torch.rand(spec.batch, spec.window + 1, keys, generator=generator) < 0.05)
    frames = frames.float().to(device)
    return model.frame_log_loss(frames[:, :-1], frames[:, 1:]).mean()


def units_per_second(spec: FamilySpec, device: str, seconds: float) -> float:
    """Train steps for about `seconds` (after a warm-up); tokens or frames per second."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = build_model(spec.family, spec.config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")

    def step() -> None:
        with autocast:
            loss = batch_loss(model, spec, device, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(WARMUP_STEPS):
        step()
    steps, began = 0, time.perf_counter()
    while steps == 0 or time.perf_counter() - began < seconds:
        step()
        steps += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * spec.batch * spec.window / (time.perf_counter() - began)


def train_section(seconds: float, command: str, device: str = "cpu") -> list[str]:
    """Time every family on `device` ("cpu" or "cuda"); returns the markdown section."""
    if device == "cuda" and not torch.cuda.is_available():
        raise OSError("--device cuda: torch sees no CUDA GPU on this machine")
    where = (f"CUDA: {torch.cuda.get_device_name(0)}, bfloat16 autocast as training uses it"
             if device == "cuda" else f"CPU: {torch.get_num_threads()} torch threads")
    lines = [
        f"`{command}`",
        "",
        f"One training step = forward, loss, backward, clipping, AdamW, on random batches at "
        f"the sizes Antiphon trains at; about {seconds:g} s of steps per family after "
        f"{WARMUP_STEPS} warm-up steps. torch {torch.__version__}; {where}.",
        "",
        f"| family | batch x window | {device.upper()} units/s |",
        "| --- | --- | --- |",
    ]
    for spec in family_specs(EventCodec().vocab_size):
        rate = units_per_second(spec, device, seconds)
        lines.append(f"| {spec.label} | {spec.batch} x {spec.window} {spec.unit}s | "
                     f"{rate:,.0f} {spec.unit}s/s |")
    return lines
