"""The torch side of `antiphon bench`: the same model's step in torch eager mode.

Step latency does not depend on the weights' values, so the torch model is built from the
configuration in the exported model's card with fresh weights: the shipped `.onnx` files
carry no checkpoint, and this keeps the comparison about the runtime, not the numbers.
"""

from __future__ import annotations

from pathlib import Path

import torch

from antiphon.engine.model import StepModel
from antiphon.engine.timing import Latency, time_calls
from antiphon.training.export import FrameStepGraph, TokenStepGraph
from antiphon.training.fit.checkpoint import build_model

FAMILY_OF_CELL = {"lstm": "recurrent", "gru": "recurrent", "rnn": "recurrent",
                  "transformer": "transformer", "rnn-nade": "rnn-nade",
                  "lstm-vae": "lstm-vae", "transformer-vae": "transformer-vae",
                  "gru-seq2seq": "gru-seq2seq"}


def torch_step_latency(model_path: Path, steps: int) -> Latency:
    """One step of the same step graph (sampling included) in torch eager mode, 1 thread."""
    card = StepModel(model_path, device="cpu").card
    family = FAMILY_OF_CELL.get(card.family)
    if family is None:
        raise ValueError(f"{model_path}: no torch family for {card.family!r}")
    torch.set_num_threads(1)
    model = build_model(family, card.training["model_config"]).eval()
    vocab = card.vocab_size
    uniform, bias, temperature = torch.rand(1, vocab), torch.zeros(vocab), torch.ones(1)
    if card.representation == "pianoroll":
        graph = FrameStepGraph(model).eval()
        carried = {"input": torch.zeros(1, vocab), "state": model.initial_state(1)}
        sampling = (temperature, uniform, bias)
    else:
        graph = TokenStepGraph(model).eval()
        carried = {"input": torch.zeros(1, dtype=torch.int64), "state": model.initial_state(1)}
        sampling = (temperature, torch.ones(1), uniform, bias)  # top-p 1

    @torch.inference_mode()
    def step() -> None:
        sample, _, *state = graph(carried["input"], *sampling, *carried["state"])
        carried["input"], carried["state"] = sample, state

    return time_calls(step, steps)
