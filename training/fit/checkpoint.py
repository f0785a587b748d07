"""Checkpoints that carry their own configuration, so a file is all it takes to rebuild.

A checkpoint is a dict saved with torch.save:

    format        CHECKPOINT_FORMAT
    family        which model family builds it (a key of FAMILIES)
    model_config  that family's @dataclass config, as a dict
    codec         the representation's JSON config (fixes the vocabulary or the keys)
    train_config  the TrainConfig it was trained with
    data          what it was trained on (corpora, pieces, tokens)
    epoch, step   progress, for resuming
    metrics       held-out figures at that point
    model, optimizer, scheduler   the state dicts
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from antiphon.training.families.gru_seq2seq import GruSeq2SeqModel, Seq2SeqConfig
from antiphon.training.families.lstm_vae import LstmVaeModel, VaeConfig
from antiphon.training.families.recurrent import RecurrentConfig, RecurrentTokenModel
from antiphon.training.families.rnn_nade import NadeConfig, RnnNadeModel
from antiphon.training.families.small_models import (
    MelodyConfig,
    MelodyLstm,
    PitchDurationConfig,
    PitchDurationLstm,
)
from antiphon.training.families.transformer import TransformerConfig, TransformerTokenModel

CHECKPOINT_FORMAT = "antiphon-checkpoint-v1"

# family name -> (config class, model class)
FAMILIES: dict[str, tuple[type, type[nn.Module]]] = {
    "recurrent": (RecurrentConfig, RecurrentTokenModel),
    "transformer": (TransformerConfig, TransformerTokenModel),
    "rnn-nade": (NadeConfig, RnnNadeModel),
    "lstm-vae": (VaeConfig, LstmVaeModel),
    "gru-seq2seq": (Seq2SeqConfig, GruSeq2SeqModel),
    "melody-lstm": (MelodyConfig, MelodyLstm),
    "pitch-duration-lstm": (PitchDurationConfig, PitchDurationLstm),
}


def build_model(family: str, model_config: dict) -> nn.Module:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    config_class, model_class = FAMILIES[family]
    return model_class(config_class(**model_config))


def save_checkpoint(path: str | Path, **fields) -> None:
    """Write atomically: a crash mid-save never leaves a truncated checkpoint behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: no two writers share one
    torch.save({"format": CHECKPOINT_FORMAT, **fields}, tmp)
    tmp.replace(path)


def add_test_metrics(best: str | Path, score: Callable[[nn.Module], dict]) -> dict:
    """Score the best checkpoint's model (`score` returns test figures), write them into
    it and return its metrics; the per-epoch history stays in latest.pt."""
    model, checkpoint = load_checkpoint(best)
    checkpoint["metrics"].update(score(model))
    checkpoint["metrics"].pop("history", None)
    save_checkpoint(best, **{k: v for k, v in checkpoint.items() if k != "format"})
    return checkpoint["metrics"]


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """The model (weights loaded, CPU) and the whole checkpoint dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err})") from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an Antiphon checkpoint ({CHECKPOINT_FORMAT})")
    model = build_model(checkpoint["family"], checkpoint["model_config"])
    model.load_state_dict(checkpoint["model"])
    return model, checkpoint
