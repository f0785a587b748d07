"""A model card checked against the graph it describes, before the model is called ready.

The card (card.py) is checked field by field on its own; here its names, shapes, dtypes
and sizes are held against the graph's inputs and outputs as onnxruntime reports them, and
against what the graph's first step returns. A disagreement found here would otherwise
load fine and crash at the first note, in the middle of a performance.

onnxruntime reports a dimension the graph leaves open (dynamic) as a name or None; only
the dimensions the graph fixes are compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from antiphon.engine.card import CardFieldError, ModelCard
from antiphon.engine.json_config import shown

# onnxruntime's names for numpy's dtypes where they differ ("tensor(float)" is float32).
ORT_TYPE_NAMES = {"float32": "float", "float64": "double"}
FLOAT_TENSOR = "tensor(float)"


def ort_type(dtype: str) -> str:
    """onnxruntime's type string for a numpy dtype name, e.g. "tensor(int64)"."""
    return f"tensor({ORT_TYPE_NAMES.get(dtype, dtype)})"


def _described(shape: Sequence[Any] | None) -> str:
    if shape is None:
        return "of unknown shape"
    return "[" + ", ".join(str(d) if isinstance(d, int) else repr(d) for d in shape) + "]"


def _listed(names: dict[str, Any]) -> str:
    """The graph's tensor names for an error message: a graph may have hundreds."""
    ordered = sorted(names)
    more = f", and {len(ordered) - 12} more" if len(ordered) > 12 else ""
    return ", ".join(shown(name) for name in ordered[:12]) + more


def _last_dim(node: ort.NodeArg) -> int | None:
    """The graph's fixed size of a tensor's last dimension, or None where left open."""
    shape = node.shape
    if not shape or not isinstance(shape[-1], int):
        return None
    return shape[-1]


def io_types(card: ModelCard) -> dict[str, str]:
    """Card io field -> the tensor type the engine feeds or reads there."""
    # A token model's input and sample are token ids; a piano-roll model's are frames.
    token = FLOAT_TENSOR if card.representation == "pianoroll" else "tensor(int64)"
    return {"token": token, "sample": token, "temperature": FLOAT_TENSOR,
            "top_p": FLOAT_TENSOR, "uniform": FLOAT_TENSOR, "logit_bias": FLOAT_TENSOR,
            "logits": FLOAT_TENSOR}


def check_card_against_graph(session: ort.InferenceSession, card: ModelCard) -> None:
    """Raise CardFieldError naming the first card field the graph disagrees with."""
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name: node for node in session.get_outputs()}
    wanted_types = io_types(card)
    io_nodes: dict[str, ort.NodeArg] = {}
    for side, names, nodes in (("input", card.io.inputs(), inputs),
                               ("output", card.io.outputs(), outputs)):
        for key, name in names.items():
            node = nodes.get(name)
            if node is None:
                raise CardFieldError(f"io.{key}", f"names {shown(name)}, which is not an "
                                     f"{side} of the graph (its {side}s: {_listed(nodes)})")
            if node.type != wanted_types[key]:
                raise CardFieldError(f"io.{key}", f"names {shown(name)}, a {node.type} in the "
                                     f"graph, where the engine passes {wanted_types[key]}")
            io_nodes[key] = node
    for index, tensor in enumerate(card.state):
        for side, name, nodes in (("input", tensor.input, inputs),
                                  ("output", tensor.output, outputs)):
            node = nodes.get(name)
            if node is None:
                raise CardFieldError(f"state[{index}].{side}", f"names {shown(name)}, which "
                                     f"is not an {side} of the graph (its {side}s: "
                                     f"{_listed(nodes)})")
            _check_state_tensor(f"state[{index}]", tensor.shape, tensor.dtype, node)
    fed = set(card.io.inputs().values()) | {tensor.input for tensor in card.state}
    unfed = sorted(set(inputs) - fed)
    if unfed:
        raise CardFieldError("state", f"names no tensor for the graph input {unfed[0]!r} "
                             "(nor does io), so the graph cannot run")
    _check_vocabulary_size(card, io_nodes)


def _check_state_tensor(where: str, shape: tuple[int, ...], dtype: str,
                        node: ort.NodeArg) -> None:
    graph_shape = node.shape
    if graph_shape is not None and (
        len(graph_shape) != len(shape)
        or any(isinstance(g, int) and g != c for g, c in zip(graph_shape, shape, strict=True))
    ):
        raise CardFieldError(f"{where}.shape", f"is {list(shape)}, but the graph's "
                             f"{node.name!r} is {_described(graph_shape)}")
    if node.type != ort_type(dtype):
        raise CardFieldError(f"{where}.dtype", f"is {dtype!r}, but the graph's {node.name!r} "
                             f"is a {node.type}")


def _check_vocabulary_size(card: ModelCard, io_nodes: dict[str, ort.NodeArg]) -> None:
    """Every tensor with one entry per token (per key, for frames) must have vocab_size."""
    sized = ["logits", "uniform", "logit_bias"]
    if card.representation == "pianoroll":
        sized += ["token", "sample"]  # frames in and out: one column per key
    for key in sized:
        node = io_nodes[key]
        size = _last_dim(node)
        if size is not None and size != card.vocab_size:
            raise CardFieldError("vocabulary", f"has {card.vocab_size} entries, but the "
                                 f"graph's {key} tensor {node.name!r} has shape "
                                 f"{_described(node.shape)}")


def shape_and_type(value: Any) -> tuple[tuple[int, ...], str]:
    """(shape, onnxruntime type) of a step's output: a numpy array, or an OrtValue when
    the step runs through IO binding."""
    if isinstance(value, np.ndarray):
        return tuple(value.shape), ort_type(value.dtype.name)
    return tuple(value.shape()), value.data_type()


def check_first_step(card: ModelCard, sample: np.ndarray, logits: np.ndarray,
                     state: list) -> None:
    """What the graph's first step returned must be what the card promised: the engine
    reads the sample and the logits, and feeds the state back in at the next step."""
    vocab = card.vocab_size
    if np.shape(logits) != (1, vocab):
        raise CardFieldError("vocabulary", f"has {vocab} entries, but the graph's first step "
                             f"returns logits of shape {list(np.shape(logits))}")
    if card.representation == "pianoroll":
        if np.shape(sample) != (1, vocab):
            raise CardFieldError("vocabulary", f"has {vocab} keys, but the graph's first step "
                                 f"returns a frame of shape {list(np.shape(sample))}")
    elif np.size(sample) != 1 or not 0 <= int(np.ravel(sample)[0]) < vocab:
        raise CardFieldError("io.sample", f"should be one token id below {vocab}, but the "
                             f"graph's first step returns {np.ravel(sample)[:4].tolist()}")
    for index, (tensor, value) in enumerate(zip(card.state, state, strict=True)):
        shape, kind = shape_and_type(value)
        if shape != tensor.shape:
            raise CardFieldError(f"state[{index}].shape", f"is {list(tensor.shape)}, but the "
                                 f"graph's first step returns {tensor.output!r} as {list(shape)}")
        if kind != ort_type(tensor.dtype):
            raise CardFieldError(f"state[{index}].dtype", f"is {tensor.dtype!r}, but the "
                                 f"graph's first step returns {tensor.output!r} as a {kind}")
