"""`TrainConfig`, what the one training loop is told, and the settings each training
command starts from: `antiphon train` (token models), `train-frames` (piano-roll
families on a benchmark) and `train-small` (the small melody models).

Imports neither torch nor the loop: the CLI reads these defaults for its options and
their help (`antiphon train --help`) without loading torch, so an option's default is
changed here, once, and the command, its help and `loop.train_task` follow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    epochs: int = 20  # upper bound; early stopping may end sooner
    steps_per_epoch: int = 0  # optimiser steps per epoch; 0 = one pass over the train data
    batch_size: int = 32  # windows per step
    window: int = 256  # tokens (or frames) per window: the truncated back-propagation length
    lr: float = 2e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    warmup_steps: int = 200  # linear warm-up before the cosine decay
    clip_norm: float = 1.0  # gradient norm clipping
    transpose: tuple[int, int] = (-5, 6)  # random transposition range, semitones
    patience: int = 3  # stop after this many epochs without a better valid NLL
    seed: int = 0  # seeds torch and the window sampler
    eval_batch: int = 32  # pieces per evaluation batch
    device: str = "cpu"  # "cpu" or "cuda"
    bf16: bool = True  # on CUDA, run the forward pass under bfloat16 autocast
    minutes: float = 0.0  # a time budget (0: none): it sets the epochs, not `epochs` (loop.py)


# `antiphon train`: token models on corpora, MIDI folders or a prepared folder. 12 epochs
# is what the shipped token models (`default`, `transformer`) trained for
# (exported_models/README.md).
TOKEN_TRAINING = TrainConfig(epochs=12)

# `antiphon train-frames`: a benchmark has hundreds of pieces, not the corpora's tens of
# thousands: short epochs (40 steps of 8 crops), many of them, a patient early stop.
FRAME_TRAINING = TrainConfig(epochs=100, steps_per_epoch=40, batch_size=8, window=128,
                             lr=3e-3, warmup_steps=60, patience=12)

# `antiphon train-small`: one-layer LSTMs over melodies moved to C major or A minor
# (data/melodies.py), so no transposition.
SMALL_TRAINING = TrainConfig(epochs=20, steps_per_epoch=200, batch_size=32, window=128,
                             lr=3e-3, warmup_steps=100, transpose=(0, 0), patience=4)

# Each training command's settings, by the command's name.
COMMAND_TRAINING = {"train": TOKEN_TRAINING, "train-frames": FRAME_TRAINING,
                    "train-small": SMALL_TRAINING}
