"""An int8 copy of an exported step graph: the same model in a quarter of the weight bytes.

A step is memory-bound: at batch 1 each weight is read once per step, so the time a step
takes is set by how many bytes the weights hold (`antiphon bench engine` prints that
floor). onnxruntime's dynamic quantisation stores the LSTM, GRU, MatMul and Gemm weights
as int8 with a scale each (QOperator form: an LSTM becomes one `DynamicQuantizeLSTM`, a
MatMul a `MatMulInteger` fed by `DynamicQuantizeLinear`) and quantises the activations
at each step; the rest of the graph (embedding, in-graph sampling) stays float32, and so
do MatMuls by a weight vector (a piano-roll NADE's hidden-to-key products, 24 weights a
key): int8 saves nothing worth having there, and onnxruntime 1.31's dynamic quantisation gets a
one-dimensional weight wrong (a chord NADE's logits came out 9 off, 0.77 nats a frame;
`vector_products`). Static
quantisation would need calibration data and has no LSTM kernel, so it is not offered.
float16 is not offered either: onnxruntime's CPU provider has no float16 LSTM kernel.

The copy keeps the model card (with `precision` set to "int8") and the batch axes, and is
written only once it has passed these checks:
- it loads and steps as the engine drives it (engine/model.py);
- on a walk through the source model's own samples, its NLL per token (or per frame) is
  within `max_nll_gap` of the source's (`NllGap`);
- a batch of rows steps like the same rows one at a time, within the int8 rounding: the
  activations of a batch are quantised with one scale for all its rows, so the rows of an
  int8 batch do not match single steps to float32's 1e-4 (batch_axes.py), but to
  `INT8_BATCH_TOLERANCE`.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from antiphon.engine.card import CARD_METADATA_KEY, ModelCard
from antiphon.engine.model import StepModel

log = logging.getLogger(__name__)

PRECISIONS = ("float32", "int8")
QUANTISED_OPS = ["LSTM", "GRU", "MatMul", "Gemm"]
NLL_STEPS = 400  # steps of the source's own samples the NLL gap is measured over
MAX_NLL_GAP = 0.01  # nats per token (or frame): the most int8 may cost on held-out NLL
INT8_BATCH_TOLERANCE = 0.25  # largest |logit gap| between a batch row and a single step
BATCH_ROWS = 5


class QuantiseError(RuntimeError):
    """The int8 graph does not do what its source does, closely enough."""


@dataclass(frozen=True)
class NllGap:
    """Mean NLL of the same walk under the source and the copy (nats per token or frame)."""

    source: float
    copy: float
    steps: int
    worst_logit_gap: float

    @property
    def gap(self) -> float:
        return self.copy - self.source


def weight_bytes(path: str | Path) -> int:
    """The bytes of a graph's initializers: what a batch-1 step reads from memory."""
    proto = onnx.load(str(path), load_external_data=False)
    return sum(onnx.numpy_helper.to_array(tensor).nbytes for tensor in proto.graph.initializer)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def nll_gap(source: Path, copy: Path, steps: int = NLL_STEPS, seed: int = 0) -> NllGap:
    """Walk `steps` steps of the source's own samples (temperature 1) and score each next
    token (or frame) under both graphs: a held-out-free check of what quantising costs.
    (`antiphon eval` gives the figure on held-out music.)"""
    reference, candidate = StepModel(source, device="cpu"), StepModel(copy, device="cpu")
    card = reference.card
    vocab = card.vocab_size
    rng = np.random.default_rng(seed)
    bias = np.zeros(vocab, dtype=np.float32)
    ref_state, cand_state = reference.initial_state(), candidate.initial_state()
    totals, worst = np.zeros(2), 0.0
    frames = card.representation == "pianoroll"
    previous: int | np.ndarray = np.zeros((1, vocab), np.float32) if frames else 0
    for _ in range(steps):
        uniform = rng.random((1, vocab), dtype=np.float32)
        if frames:
            drawn, ref_logits, ref_state = reference.step_frame(previous, ref_state, 1.0,
                                                                uniform, bias)
            _, cand_logits, cand_state = candidate.step_frame(previous, cand_state, 1.0,
                                                              uniform, bias)
            keys = drawn.astype(np.float32)  # each key's logit is conditional on those drawn
            for index, logits in enumerate((ref_logits, cand_logits)):
                totals[index] -= float(np.sum(keys * _log_sigmoid(logits)
                                              + (1 - keys) * _log_sigmoid(-logits)))
            previous = keys
        else:
            drawn, ref_logits, ref_state = reference.step(previous, ref_state, 1.0, uniform,
                                                          bias)
            _, cand_logits, cand_state = candidate.step(previous, cand_state, 1.0, uniform,
                                                        bias)
            for index, logits in enumerate((ref_logits, cand_logits)):
                totals[index] -= float(_log_softmax(logits[0])[drawn])
            previous = drawn
        worst = max(worst, float(np.abs(ref_logits - cand_logits).max()))
    return NllGap(float(totals[0] / steps), float(totals[1] / steps), steps, worst)


def int8_batch_gap(path: Path, seed: int = 0) -> float:
    """The largest logit gap between a batch of rows and the same rows one at a time
    (samples are not compared: a gap within the int8 rounding may flip a near tie)."""
    model = StepModel(path, device="cpu")
    rng = np.random.default_rng(seed)
    vocab = model.card.vocab_size
    tokens = rng.integers(0, vocab, BATCH_ROWS)
    state = model.batch_state(model.initial_state(), BATCH_ROWS)
    worst = 0.0
    for _ in range(3):
        uniform = rng.random((BATCH_ROWS, vocab), dtype=np.float32)
        bias = np.zeros((BATCH_ROWS, vocab), np.float32)
        samples, logits, new_state = model.step_batch(tokens, state, 1.0, uniform, bias)
        for row in range(BATCH_ROWS):
            _, row_logits, _ = model.step(int(tokens[row]), model.row_state(state, row), 1.0,
                                          uniform[row:row + 1], bias[row])
            worst = max(worst, float(np.abs(row_logits[0] - logits[row]).max()))
        tokens, state = samples, new_state
    return worst


def with_precision(proto: onnx.ModelProto, card: ModelCard, precision: str,
                   name: str = "", description: str = "") -> ModelCard:
    """Write `card` with its precision (and a new name or description, where given) into
    `proto`'s metadata, replacing the card there; returns the card written."""
    marked = replace(card, precision=precision, name=name or card.name,
                     description=description or card.description)
    kept = [entry for entry in proto.metadata_props
            if entry.key not in (CARD_METADATA_KEY, "onnx.infer")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, marked.to_json()
    return marked


def vector_products(proto: onnx.ModelProto) -> list[str]:
    """The names of the MatMul nodes whose weight (an initializer) is a vector: left
    float32 (module docstring)."""
    ranks = {weight.name: len(weight.dims) for weight in proto.graph.initializer}
    return [node.name for node in proto.graph.node
            if node.op_type == "MatMul" and any(ranks.get(name, 2) < 2 for name in node.input)]


def quantise_step_graph(source: str | Path, out: str | Path, precision: str = "int8",
                        max_nll_gap: float = MAX_NLL_GAP, nll_steps: int = NLL_STEPS,
                        name: str = "", description: str = "") -> tuple[ModelCard, NllGap]:
    """Write an int8 copy of the step graph `source` to `out`, checked (module docstring),
    its card renamed `name` where given (a shipped model's card is named as its file);
    returns its card and the NLL gap measured. QuantiseError when a check fails (nothing
    is written then); ValueError for a precision other than int8 or a source already int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, out = Path(source), Path(out)
    if precision != "int8":
        raise ValueError(f"precision {precision!r}: a step graph can be copied to int8 only "
                         f"(one of {', '.join(PRECISIONS)}; float32 is what export writes)")
    card = StepModel(source, device="cpu").card
    if card.precision != "float32":
        raise ValueError(f"{source} is already {card.precision}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="antiphon-int8-", dir=out.parent) as folder:
        quantised = Path(folder) / "int8.onnx"
        # The quantiser warns on the root logger about each node it leaves alone; the
        # checks below say what matters.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(source), str(quantised), op_types_to_quantize=QUANTISED_OPS,
                             weight_type=QuantType.QInt8,
                             nodes_to_exclude=vector_products(onnx.load(str(source))))
        finally:
            root.setLevel(level)
        proto = onnx.load(str(quantised))
        marked = with_precision(proto, card, precision, name, description)
        proto.doc_string = f"{proto.doc_string} (weights int8)".strip()
        onnx.save(proto, str(quantised))
        gap = nll_gap(source, quantised, nll_steps)
        if gap.gap > max_nll_gap:
            raise QuantiseError(f"{source}: int8 costs {gap.gap:+.4f} nats per step on "
                                f"{gap.steps} of its own samples (at most {max_nll_gap:g})")
        if StepModel(quantised, device="cpu").batch_axes is not None:
            batch_gap = int8_batch_gap(quantised)
            if batch_gap > INT8_BATCH_TOLERANCE:
                raise QuantiseError(f"{source}: the int8 graph steps a batch unlike single "
                                    f"rows (worst logit gap {batch_gap:.3f})")
        quantised.replace(out)
    log.info("quantised %s -> %s: NLL %+.4f", source, out, gap.gap)
    return marked, gap
