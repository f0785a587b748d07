"""Export of a trained answer critic to ONNX, checked against torch through the runtime
scorer (engine/critic.py) before it replaces anything.

The graph takes `tokens` int64 [batch, length] (right-padded) and `lengths` int64
[batch] and gives `logits` float32 [batch]; both batch and length are dynamic. What the
runtime needs to know (encoding version, vocabulary size, token caps) and the training
record and held-out figures are JSON in the metadata under CRITIC_METADATA_KEY.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from antiphon.engine.critic import (
    CRITIC_METADATA_KEY,
    ENCODING_VERSION,
    INPUT_LENGTHS,
    INPUT_TOKENS,
    MAX_ANSWER_TOKENS,
    MAX_CALL_TOKENS,
    OUTPUT_LOGITS,
    VOCAB_SIZE,
    Critic,
    pad_batch,
)
from antiphon.training.families.critic import CriticModel

PARITY_TOLERANCE = 1e-4
OPSET = 17


class CriticExportError(RuntimeError):
    """The exported graph does not score as the torch model does."""


def critic_metadata(model: CriticModel, name: str, description: str, training: dict,
                    metrics: dict) -> dict:
    return {
        "name": name, "family": model.family_name, "encoding_version": ENCODING_VERSION,
        "vocab_size": VOCAB_SIZE, "max_call_tokens": MAX_CALL_TOKENS,
        "max_answer_tokens": MAX_ANSWER_TOKENS, "description": description,
        "training": json.loads(json.dumps(training)),
        "metrics": json.loads(json.dumps(metrics)),
    }


def export_critic(model: CriticModel, out_path: str | Path, name: str = "critic",
                  description: str = "", training: dict | None = None,
                  metrics: dict | None = None, seed: int = 0) -> float:
    """Write `model` to `out_path` once onnxruntime's scores match torch's within
    PARITY_TOLERANCE on random batches of mixed lengths; returns the worst gap."""
    model = model.eval()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_suffix(".tmp.onnx")
    example = pad_batch([[1, 60, 2], [5, 6, 1, 7, 8, 9]])
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's notes on the LSTMs' shape checks, and the TorchScript exporter's
        # deprecation notice: it keeps each LSTM as one fused ONNX op, which is the point.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        torch.onnx.export(
            model, tuple(torch.from_numpy(a) for a in example), str(tmp_path),
            input_names=[INPUT_TOKENS, INPUT_LENGTHS], output_names=[OUTPUT_LOGITS],
            dynamic_axes={INPUT_TOKENS: {0: "batch", 1: "length"}, INPUT_LENGTHS: {0: "batch"},
                          OUTPUT_LOGITS: {0: "batch"}},
            opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(tmp_path))
    entry = proto.metadata_props.add()
    entry.key = CRITIC_METADATA_KEY
    entry.value = json.dumps(critic_metadata(model, name, description, training or {},
                                             metrics or {}), sort_keys=True)
    proto.doc_string = f"Antiphon answer critic: {description}"
    onnx.save(proto, str(tmp_path))
    try:
        worst = check_parity(model, tmp_path, seed)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    tmp_path.replace(out_path)
    return worst


def check_parity(model: CriticModel, path: Path, seed: int = 0) -> float:
    """Score random batches (1 to 8 sequences of 1 to 300 tokens) with torch and with the
    runtime Critic; CriticExportError if they differ by more than PARITY_TOLERANCE."""
    critic = Critic.load(path)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(6):
        batch = int(rng.integers(1, 9))
        sequences = [rng.integers(1, VOCAB_SIZE, int(rng.integers(1, 301))).tolist()
                     for _ in range(batch)]
        tokens, lengths = pad_batch(sequences)
        with torch.no_grad():
            expected = model(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
        got = critic._run(tokens, lengths)
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > PARITY_TOLERANCE:
        raise CriticExportError(f"{path}: onnxruntime and torch scores differ by {worst:.2e} "
                                f"(tolerance {PARITY_TOLERANCE:.0e})")
    return worst
