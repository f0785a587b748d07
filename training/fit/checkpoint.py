"""Checkpoints that carry their own configuration, so a file is all it takes to rebuild.

A checkpoint is a dict saved with torch.save:

    format        CHECKPOINT_FORMAT
    family        which model family builds it (a key of FAMILIES)
    model_config  that family's @dataclass config, as a dict
    codec         the representation's JSON config (fixes the vocabulary or the keys)
    train_config  the TrainConfig it was trained with, as a dict
    data          what it was trained on (corpora, pieces, tokens)
    epoch, step   progress, for resuming
    metrics       held-out figures at that point
    model, optimizer, scheduler   the state dicts

Everything in it is plain data (dicts, lists, tuples, str, int, float, bool, None,
tensors), so it is read with torch's weights-only unpickler: a hostile `.pt` file cannot
run code when `antiphon export`, `eval`, `bridge` or a resumed run opens it. Configs are
stored as dicts (`dataclasses.asdict`) and rebuilt into their dataclasses on load
(`build_model`); `save_checkpoint` turns numpy scalars and arrays, paths and dataclasses
into plain equivalents and refuses any other object.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path, PurePath

import numpy as np
import torch
from torch import nn

from antiphon.training.families.bar_gan import BarGanConfig, BarGanModel
from antiphon.training.families.gru_seq2seq import GruSeq2SeqModel, Seq2SeqConfig
from antiphon.training.families.lstm_vae import LstmVaeModel, VaeConfig
from antiphon.training.families.recurrent import RecurrentTokenModel
from antiphon.training.families.rnn_nade import NadeConfig, RnnNadeModel
from antiphon.training.families.small_models import (
    MelodyConfig,
    MelodyLstm,
    PitchDurationConfig,
    PitchDurationLstm,
)
from antiphon.training.families.token_configs import RecurrentConfig, TransformerConfig
from antiphon.training.families.transformer import TransformerTokenModel
from antiphon.training.families.transformer_vae import TransformerVaeConfig, TransformerVaeModel

CHECKPOINT_FORMAT = "antiphon-checkpoint-v1"

# family name -> (config class, model class)
FAMILIES: dict[str, tuple[type, type[nn.Module]]] = {
    "recurrent": (RecurrentConfig, RecurrentTokenModel),
    "transformer": (TransformerConfig, TransformerTokenModel),
    "rnn-nade": (NadeConfig, RnnNadeModel),
    "lstm-vae": (VaeConfig, LstmVaeModel),
    "transformer-vae": (TransformerVaeConfig, TransformerVaeModel),
    "gru-seq2seq": (Seq2SeqConfig, GruSeq2SeqModel),
    "bar-gan": (BarGanConfig, BarGanModel),
    "melody-lstm": (MelodyConfig, MelodyLstm),
    "pitch-duration-lstm": (PitchDurationConfig, PitchDurationLstm),
}


def build_model(family: str, model_config: dict) -> nn.Module:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    config_class, model_class = FAMILIES[family]
    return model_class(config_class(**model_config))


# What torch's weights-only unpickler reads as it is (by exact type: numpy's float64 is a
# float, but it pickles as a numpy object the unpickler refuses).
PLAIN_SCALARS = (str, int, float, bool, type(None), bytes)
PLAIN_TORCH = (torch.Tensor, torch.dtype, torch.device)


def plain_data(value, where: str = "checkpoint"):
    """`value` as data torch's weights-only unpickler accepts: numpy scalars become Python
    numbers, numpy arrays and sets lists, paths strings, dataclasses dicts, subclasses of
    str / int / float / dict / list / tuple their base types. Containers are walked, and
    returned as they are when nothing inside changes (a state dict keeps its OrderedDict
    and its metadata). TypeError, naming where it is, for any other object."""
    if type(value) in PLAIN_SCALARS or isinstance(value, PLAIN_TORCH):
        return value
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()  # a scalar's .tolist() is its Python number
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_data(dataclasses.asdict(value), where)
    if isinstance(value, str):  # str subclasses: enums, ...
        return str.__str__(value)
    if isinstance(value, int | float):
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, dict):
        pairs = [(plain_data(k, f"{where} key"), plain_data(v, f"{where}[{k!r}]"))
                 for k, v in value.items()]
        unchanged = all(k is k0 and v is v0 for (k, v), (k0, v0)
                        in zip(pairs, value.items(), strict=True))
        return value if unchanged and type(value) in (dict, OrderedDict) else dict(pairs)
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
        unchanged = all(v is v0 for v, v0 in zip(items, value, strict=True))
        if unchanged and type(value) in (list, tuple, torch.Size):
            return value
        return tuple(items) if isinstance(value, tuple) else items
    raise TypeError(f"{where}: a {type(value).__name__} is not plain data; a checkpoint "
                    "holds dicts, lists, numbers, strings and tensors")


def save_checkpoint(path: str | Path, **fields) -> None:
    """Write atomically: a crash mid-save never leaves a truncated checkpoint behind.
    TypeError (before anything is written) for a field that is not plain data."""
    path = Path(path)
    checkpoint = plain_data({"format": CHECKPOINT_FORMAT, **fields})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: no two writers share one
    torch.save(checkpoint, tmp)
    tmp.replace(path)


def add_test_metrics(best: str | Path, score: Callable[[nn.Module], dict]) -> dict:
    """Score the best checkpoint's model (`score` returns test figures), write them into
    it and return its metrics; the per-epoch history stays in latest.pt."""
    model, checkpoint = load_checkpoint(best)
    checkpoint["metrics"].update(plain_data(score(model), "test metrics"))
    checkpoint["metrics"].pop("history", None)
    save_checkpoint(best, **{k: v for k, v in checkpoint.items() if k != "format"})
    return checkpoint["metrics"]


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, tensors on the CPU: the one place a checkpoint is unpickled,
    always by torch's weights-only unpickler, which builds plain data and runs no code.

    FileNotFoundError if there is no file; ValueError, naming the file, if it is not a
    plain-data Antiphon checkpoint (a hostile file, one written by another program, or
    one that pickled objects) or cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # a bare pickle's protocol: noise beside the refusal
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except EOFError:
        raise ValueError(f"{path} is not a readable checkpoint (it is empty or cut short)"
                         ) from None
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path} is not a plain-data checkpoint ({_refusal(err)}): it may "
                         "run code when unpickled; refusing to load it") from None
    except (RuntimeError, OSError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError) as err:
        raise ValueError(f"{path} is not a readable checkpoint ({_first_line(err)})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an Antiphon checkpoint ({CHECKPOINT_FORMAT})")
    return checkpoint


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """The model (weights loaded, CPU) and the whole checkpoint dict (`read_checkpoint`)."""
    checkpoint = read_checkpoint(path)
    try:
        model = build_model(checkpoint["family"], checkpoint["model_config"])
        model.load_state_dict(checkpoint["model"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{path}: the checkpoint does not rebuild its model "
                         f"({_first_line(err)})") from None
    return model, checkpoint


def _refusal(err: pickle.UnpicklingError) -> str:
    """What the weights-only unpickler refused, from its message (a page of advice on
    turning the check off, which is not advice to pass on)."""
    text = str(err)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"it pickles {found.group(1)}"
    detail = text.partition("WeightsUnpickler error:")[2].strip().splitlines()
    return detail[0].strip().rstrip(".").lower() if detail else "refused by torch's checks"


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
