"""A conditional GAN over piano-roll bars (after MidiNet, Yang, Chou and Yang 2017).

A bar is `bar_frames` frames of `keys` keys. The generator G makes a bar from noise z,
conditioned on the bar before it: a conditioner CNN reads the previous bar down to
coarser and coarser time scales, and each of G's transposed convolutions takes the
conditioner's features at its own time scale beside its input (MidiNet's "2-D
conditions"). The discriminator D judges a bar beside the bar before it; its last
hidden layer is also the feature G matches (feature matching, Salimans et al. 2016),
which keeps the generator from chasing D's every move.

As in MidiNet, the first layer of G's conditioner and of D spans every key of a frame at
once (a kernel 1 x keys) and the rest convolves over time only, so the widths stay
small and any keyboard size fits. No batch normalisation: the step graph runs G on one
bar at a time, so nothing may depend on the batch.

The noise is uniform in [-1, 1], so the step graph draws it from the uniform noise the
engine already feeds each step (the first `noise` keys' values). An answer is N bars,
each generated from fresh noise conditioned on the last 16 frames played or heard.

Playing: the step graph keeps the previous bar (the last `bar_frames` frames fed in,
rolled each step), the bar being played (G's logits) and the position in it. At a bar's
first frame it runs G on fresh noise; every step it emits the bar's frame at the
position. A key sounds where its logit, with the engine's bias, is above 0: a threshold,
not a Bernoulli draw, because G's randomness is z, the keys of a bar depend on one
another (a chord is held, a voice moves) and independent draws per key would scatter
stray notes wherever G's output is not quite 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# Halvings of a bar in time inside the conditioner and D (16 frames: 16, 8, 4, 2).
TIME_SCALES = 3
# Keys either side that the previous bar's key context reaches (two octaves, odd).
KEY_CONTEXT = 25
# The key context's first weight on a key's own share of the previous bar (a key held
# through it starts 4 in logit above the rest), so G follows its condition from the
# first step instead of finding a single bar that fools D whatever came before.
KEY_ECHO = 4.0


@dataclass
class BarGanConfig:
    keys: int = 88  # keys per frame
    bar_frames: int = 16  # frames per bar (a multiple of 2 ** TIME_SCALES)
    noise: int = 32  # size of z, at most `keys` (drawn from the step's uniform input)
    width: int = 64  # channels of G and its conditioner
    critic_width: int = 64  # channels of D
    # Training (the GAN loop, training/fit/gan_loop.py); saved with the weights.
    generator_lr: float = 2e-4
    discriminator_lr: float = 1e-4  # lower than G's: D must not win outright
    discriminator_l2: float = 1e-4  # L2 on D's weights (Adam's weight decay)
    feature_matching: float = 1.0  # weight of the feature-matching term in G's loss
    instance_noise: float = 0.1  # std of the Gaussian noise on the bars D reads
    mismatch: float = 1.0  # weight of D's loss on real bars after a wrong previous bar

    def __post_init__(self) -> None:
        for name in ("keys", "bar_frames", "noise", "width", "critic_width"):
            if (value := getattr(self, name)) < 1:
                raise ValueError(f"BarGanConfig.{name} must be >= 1, got {value}")
        if self.bar_frames % 2 ** TIME_SCALES:
            raise ValueError(f"BarGanConfig.bar_frames must be a multiple of "
                             f"{2 ** TIME_SCALES}, got {self.bar_frames}")
        if self.noise > self.keys:
            raise ValueError(f"BarGanConfig.noise ({self.noise}) must not exceed keys "
                             f"({self.keys}): the step graph draws z from its uniform input")
        for name in ("generator_lr", "discriminator_lr", "discriminator_l2",
                     "feature_matching", "instance_noise", "mismatch"):
            if getattr(self, name) < 0:
                raise ValueError(f"BarGanConfig.{name} must be >= 0")


def _halve() -> dict:
    return {"kernel_size": (2, 1), "stride": (2, 1)}


class Conditioner(nn.Module):
    """Previous bar [B, T, K] -> its features at T, T/2, T/4, T/8 frames ([B, W, t, 1])."""

    def __init__(self, keys: int, width: int) -> None:
        super().__init__()
        self.read_frames = nn.Conv2d(1, width, (1, keys))
        self.downs = nn.ModuleList(nn.Conv2d(width, width, **_halve())
                                   for _ in range(TIME_SCALES))

    def forward(self, previous_bar: torch.Tensor) -> list[torch.Tensor]:
        h = F.leaky_relu(self.read_frames(previous_bar.unsqueeze(1)), 0.2)
        scales = [h]
        for down in self.downs:
            h = F.leaky_relu(down(h), 0.2)
            scales.append(h)
        return scales  # finest first


class Generator(nn.Module):
    """z [B, Z] and the previous bar's features -> the bar's key logits [B, T, K]."""

    def __init__(self, config: BarGanConfig) -> None:
        super().__init__()
        w = config.width
        self.coarse_frames = config.bar_frames // 2 ** TIME_SCALES
        self.project = nn.Linear(config.noise, w * self.coarse_frames)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(2 * w, w, **_halve())
                                 for _ in range(TIME_SCALES))
        # Normalised per bar (not per batch: the step graph makes one bar at a time), so
        # G's activations, and with them its logits, cannot run off to saturation.
        self.norms = nn.ModuleList(nn.GroupNorm(1, w) for _ in range(TIME_SCALES + 1))
        self.to_keys = nn.ConvTranspose2d(2 * w, 1, (1, config.keys))
        # The previous bar's keys, convolved over the keyboard into a bias per key: the
        # same for a chord wherever it lies, so the key of the bar before carries over in
        # every transposition (the full-keyboard layers alone must learn each one apart).
        self.key_context = nn.Conv1d(1, 1, KEY_CONTEXT, padding=KEY_CONTEXT // 2)
        with torch.no_grad():  # it starts by favouring the keys the bar before sounded
            self.key_context.weight.zero_()
            self.key_context.weight[0, 0, KEY_CONTEXT // 2] = KEY_ECHO
        self.width = w

    def forward(self, z: torch.Tensor, conditions: list[torch.Tensor],
                previous_keys: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, self.width, self.coarse_frames, 1)
        h = F.leaky_relu(self.norms[0](h), 0.2)
        for up, norm, condition in zip(self.ups, self.norms[1:], reversed(conditions[1:]),
                                       strict=True):
            h = F.leaky_relu(norm(up(torch.cat([h, condition], dim=1))), 0.2)
        logits = self.to_keys(torch.cat([h, conditions[0]], dim=1))  # [B, 1, T, K]
        return logits.squeeze(1) + self.key_context(previous_keys.unsqueeze(1))  # [B, T, K]


class Discriminator(nn.Module):
    """(bar, previous bar) [B, T, K] each -> realness logit [B] and features [B, F]."""

    def __init__(self, config: BarGanConfig) -> None:
        super().__init__()
        w = config.critic_width
        self.read_frames = nn.Conv2d(2, w, (1, config.keys))
        self.downs = nn.ModuleList(nn.Conv2d(w, w, **_halve()) for _ in range(TIME_SCALES))
        features = w * config.bar_frames // 2 ** TIME_SCALES
        self.to_logit = nn.Linear(features + 1, 1)

    def forward(self, bar: torch.Tensor, previous_bar: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.read_frames(torch.stack([bar, previous_bar], dim=1)), 0.2)
        for down in self.downs:
            h = F.leaky_relu(down(h), 0.2)
        features = h.flatten(1)
        # The batch's spread (minibatch standard deviation, Karras et al. 2018): bars of a
        # batch all alike are a generator's, so D sees a collapse and G is pushed apart.
        # D is not in the step graph, so it may look across the batch.
        spread = features.std(0, unbiased=False).mean() if len(features) > 1 else (
            features.new_zeros(()))
        judged = torch.cat([features, spread.expand(len(features), 1)], dim=1)
        return self.to_logit(judged).squeeze(-1), features


class BarGanModel(nn.Module):
    """G (with its conditioner) and D in one module, so one checkpoint holds both; the
    step graph uses G only."""

    def __init__(self, config: BarGanConfig) -> None:
        super().__init__()
        self.config = config
        self.conditioner = Conditioner(config.keys, config.width)
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    @property
    def family_name(self) -> str:
        return "bar-gan"

    @property
    def state_names(self) -> list[str]:
        return ["previous_bar", "bar", "position"]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        shape = (batch, self.config.bar_frames, self.config.keys)
        return [torch.zeros(shape, device=device), torch.zeros(shape, device=device),
                torch.zeros(batch, 1, dtype=torch.long, device=device)]

    def generator_parameters(self) -> list[nn.Parameter]:
        return [*self.conditioner.parameters(), *self.generator.parameters()]

    def sample_noise(self, batch: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
        """z uniform in [-1, 1], as the step graph makes it from its uniform input."""
        return torch.rand(batch, self.config.noise, generator=generator, device=device) * 2 - 1

    def generate_logits(self, z: torch.Tensor, previous_bar: torch.Tensor) -> torch.Tensor:
        """z [B, Z], previous bar [B, T, K] (0/1) -> the next bar's key logits [B, T, K]."""
        return self.generator(z, self.conditioner(previous_bar), previous_bar.mean(1))

    @torch.no_grad()
    def answer(self, previous_bar: torch.Tensor, bars: int,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """`bars` bars, each from fresh noise conditioned on the one before (thresholded,
        as the step graph plays them): previous bar [B, T, K] -> [B, bars * T, K]."""
        made = []
        for _ in range(bars):
            z = self.sample_noise(previous_bar.shape[0], generator, previous_bar.device)
            previous_bar = (self.generate_logits(z, previous_bar) > 0).to(previous_bar.dtype)
            made.append(previous_bar)
        return torch.cat(made, dim=1)

    def step(self, previous: torch.Tensor, uniform: torch.Tensor, state: list[torch.Tensor],
             temperature: torch.Tensor | float = 1.0, logit_bias: torch.Tensor | float = 0.0,
             ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """previous frame [B, K], uniform [B, K], state (previous bar, bar, position) ->
        the frame [B, K] (keys whose logit / temperature + bias > 0), its logits [B, K],
        the state. Temperature cannot move a threshold at 0; it is taken for the
        interface's sake. Control flow is torch.where on the position, so one graph
        serves every step."""
        previous_bar, bar, position = state
        frames = self.config.bar_frames
        previous_bar = torch.cat([previous_bar[:, 1:], previous.unsqueeze(1)], dim=1)
        z = uniform[:, : self.config.noise] * 2 - 1
        fresh = self.generate_logits(z, previous_bar)  # run every step, kept at position 0
        bar = torch.where((position == 0).unsqueeze(-1), fresh, bar)
        at = (torch.arange(frames, device=position.device) == position).to(bar.dtype)  # [B, T]
        logits = (bar * at.unsqueeze(-1)).sum(1)  # [B, K]: the bar's frame at the position
        frame = (logits / temperature + logit_bias > 0).to(previous.dtype)
        following = position + 1
        position = torch.where(following >= frames, torch.zeros_like(following), following)
        return frame, logits, [previous_bar, bar, position]
