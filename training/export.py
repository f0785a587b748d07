"""ONNX export of a model's step graph, with its card, checked against torch.

Token families (events representation):

The graph is `(token, temperature, top_p, uniform, logit_bias, state...) -> (sample,
logits, state...)`. Sampling happens inside it (temperature, nucleus (top-p) truncation,
then Gumbel-max over the uniform noise the engine passes in), so the graph is
deterministic given its inputs and, on a GPU, the sample never has to leave the device.
Export fails unless onnxruntime's logits agree with torch's over a few hundred steps.

Frame families (piano roll, e.g. the RNN-NADE): `(frame, temperature, uniform, logit_bias,
state...) -> (sample, logits, state...)`, where `frame` is the previous frame float32
[1, keys], `sample` the next one drawn key by key with Bernoulli draws from `uniform`
inside the graph, and `logits` each key's conditional logit given the keys drawn before it.
The same parity check applies (logits and samples, onnxruntime against torch).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from antiphon.engine.card import CARD_METADATA_KEY, ModelCard, StateTensor, StepIO
from antiphon.engine.codec import EventCodec, EventCodecConfig
from antiphon.engine.events import TICKS_PER_BEAT
from antiphon.engine.model import StepModel
from antiphon.engine.pianoroll import REPRESENTATION, PianoRollCodecConfig
from antiphon.training.batch_axes import PARITY_TOLERANCE as BATCH_PARITY_TOLERANCE
from antiphon.training.batch_axes import batch_parity, mark_batch_axes
from antiphon.training.fit.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4  # max abs logit difference between onnxruntime and torch
PARITY_TOP_P = (1.0, 0.9, 0.5)  # top-p values the parity run cycles through
OPSET = 17


class ExportError(RuntimeError):
    """The exported graph does not do what the torch model does."""


class TokenStepGraph(nn.Module):
    """A token model's step plus in-graph sampling, in the shape the engine drives."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, token, temperature, top_p, uniform, logit_bias, *state):
        logits, new_state = self.model.step(token, list(state))  # logits: [1, V]
        scaled = logits / temperature + logit_bias  # [1, V]
        # Nucleus (top-p): keep the most likely tokens whose probabilities add up to top_p,
        # counting a token in while the mass before it is below top_p (so the likeliest
        # always stays). Comparing each probability with the smallest one kept needs no
        # scatter back from sorted order; ties at the cut stay in.
        probs = torch.softmax(scaled, dim=-1)
        ranked, _ = torch.sort(probs, dim=-1, descending=True)
        mass_before = torch.cumsum(ranked, dim=-1) - ranked
        kept = torch.where(mass_before < top_p, ranked, torch.ones_like(ranked))
        smallest_kept = kept.min(dim=-1, keepdim=True).values  # [1, 1]
        # Gumbel-max: argmax(scaled + g), g = -log(-log(u)), draws from softmax(scaled);
        # over the nucleus only, it draws from the renormalised truncated distribution.
        u = uniform.clamp(1e-10, 1.0 - 1e-7)
        gumbel = -torch.log(-torch.log(u))  # [1, V]
        scores = torch.where(probs >= smallest_kept, scaled + gumbel,
                             torch.full_like(scaled, -1e30))
        sample = scores.argmax(dim=-1)  # [1]
        return (sample, logits, *new_state)


class FrameStepGraph(nn.Module):
    """A frame model's step with its in-graph Bernoulli sampling (the model's `step`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame, temperature, uniform, logit_bias, *state):
        sample, logits, new_state = self.model.step(frame, uniform, list(state), temperature,
                                                    logit_bias)  # sample, logits: [1, K]
        return (sample, logits, *new_state)


def build_card(model: nn.Module, checkpoint: dict, name: str, description: str) -> ModelCard:
    if "keys" in checkpoint["codec"]:  # only the piano-roll codec has keys
        roll = PianoRollCodecConfig.from_dict(checkpoint["codec"])
        # A frame model's "vocabulary" is its keys, by MIDI pitch; its input is a frame, and
        # it samples each key by a Bernoulli draw, so there is no nucleus to cut.
        keys = [f"key {roll.lowest_pitch + k}" for k in range(roll.keys)]
        representation = (REPRESENTATION, roll.version, StepIO(token="frame", top_p=""),
                          TICKS_PER_BEAT, keys)
    else:
        codec = EventCodec(EventCodecConfig.from_dict(checkpoint["codec"]))
        representation = ("events", codec.config.version, StepIO(),
                          codec.config.ticks_per_beat, codec.vocabulary())
    kind, version, io, ticks_per_beat, vocabulary = representation
    # Names, shapes and dtypes from the model's own initial state: a family whose state is
    # not float (a Transformer's cache position) needs nothing special here.
    state = [
        StateTensor(f"{state_name}_in", f"{state_name}_out", tuple(tensor.shape),
                    str(tensor.dtype).removeprefix("torch."))
        for state_name, tensor in zip(model.state_names, model.initial_state(1), strict=True)
    ]
    return ModelCard(
        name=name,
        family=model.family_name,
        representation=kind,
        representation_version=version,
        codec=checkpoint["codec"],
        vocabulary=vocabulary,
        state=state,
        io=io,
        ticks_per_beat=ticks_per_beat,
        description=description,
        # Through JSON and back, so the card equals what the engine will read (tuples
        # become lists there).
        training=json.loads(json.dumps({
            "model_config": checkpoint["model_config"],
            "train_config": checkpoint["train_config"],
            "data": checkpoint.get("data", {}),
            "epochs": checkpoint["epoch"],
        })),
        metrics=json.loads(json.dumps(checkpoint.get("metrics", {}))),
    )


def export_token_model(
    checkpoint_path: str | Path,
    out_path: str | Path,
    name: str,
    description: str = "",
    parity_steps: int = 300,
    seed: int = 0,
) -> ModelCard:
    """Write the step graph of a token-model checkpoint to `out_path`; returns its card."""
    model, checkpoint = load_checkpoint(checkpoint_path)
    model.eval()
    card = build_card(model, checkpoint, name, description)
    graph = TokenStepGraph(model).eval()
    io = card.io
    vocab = card.vocab_size
    example = (
        torch.zeros(1, dtype=torch.int64),
        torch.ones(1),
        torch.ones(1),
        torch.rand(1, vocab),
        torch.zeros(vocab),
        *model.initial_state(1),
    )
    input_names = [io.token, io.temperature, io.top_p, io.uniform, io.logit_bias] + [
        s.input for s in card.state]
    output_names = [io.sample, io.logits] + [s.output for s in card.state]
    _write_checked(graph, example, input_names, output_names, card, description, out_path,
                   lambda path: check_parity(graph, path, parity_steps, seed), parity_steps)
    return card


def _write_checked(graph, example, input_names, output_names, card, description, out_path,
                   parity, parity_steps) -> None:
    """Export `graph`, put the card in, run `parity(path) -> worst gap`; only a graph that
    passes reaches `out_path` (ExportError otherwise, and nothing is left behind)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_suffix(".tmp.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        # Two false alarms for this graph: the tracer's note on the RNN's shape check, and
        # the advice to export RNNs with batch 1 and states as inputs, which is what we do.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        # The TorchScript exporter is deprecated in favour of torch.export; we stay with it
        # while it works, because it keeps an RNN as one fused ONNX op (parity is checked
        # below either way). Moving is a change of its own, not a warning on every export.
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        torch.onnx.export(
            graph,
            example,
            str(tmp_path),
            input_names=input_names,
            output_names=output_names,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter keeps an RNN as one fused ONNX op
        )
    proto = onnx.load(str(tmp_path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, card.to_json()
    proto.doc_string = f"Antiphon {card.family} step graph: {description}"
    batched = mark_batch_axes(proto, card)  # a recurrent event model steps N rows at once
    onnx.save(proto, str(tmp_path))
    try:
        worst = parity(tmp_path)
        if batched and (gap := batch_parity(tmp_path)) > BATCH_PARITY_TOLERANCE:
            raise ExportError(f"{out_path}: a batch of rows steps unlike the same rows one "
                              f"at a time (worst gap {gap:.2e})")
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    tmp_path.replace(out_path)
    log.info("exported %s: parity max |dlogit| = %.2e over %d steps", out_path, worst, parity_steps)


def check_parity(graph: TokenStepGraph, onnx_path: Path, steps: int, seed: int) -> float:
    """Run torch and onnxruntime side by side on the same inputs; returns the worst gap.

    Raises ExportError if logits differ by more than PARITY_TOLERANCE or the samples differ.
    The token fed at each step is the torch sample, so the run walks through the kind of
    sequences the model really produces.
    """
    onnx_model = StepModel(onnx_path, device="cpu")
    rng = np.random.default_rng(seed)
    vocab = onnx_model.card.vocab_size
    bias = np.zeros(vocab, dtype=np.float32)
    onnx_state = onnx_model.initial_state()
    torch_state = graph.model.initial_state(1)
    token, worst = 0, 0.0
    with torch.no_grad():
        for step in range(steps):
            uniform = rng.random((1, vocab), dtype=np.float32)
            top_p = PARITY_TOP_P[step % len(PARITY_TOP_P)]  # the nucleus cut, off and on
            torch_out = graph(torch.tensor([token]), torch.ones(1), torch.tensor([top_p]),
                              torch.from_numpy(uniform), torch.from_numpy(bias), *torch_state)
            torch_sample, torch_logits, *torch_state = torch_out
            onnx_sample, onnx_logits, onnx_state = onnx_model.step(
                token, onnx_state, 1.0, uniform, bias, top_p=top_p
            )
            gap = float(np.abs(onnx_logits - torch_logits.numpy()).max())
            worst = max(worst, gap)
            if gap > PARITY_TOLERANCE:
                raise ExportError(
                    f"{onnx_path}: onnxruntime and torch logits differ by {gap:.2e} at step "
                    f"{step} (tolerance {PARITY_TOLERANCE:.0e})"
                )
            if onnx_sample != int(torch_sample[0]):
                raise ExportError(
                    f"{onnx_path}: onnxruntime sampled {onnx_sample}, torch {int(torch_sample[0])}"
                    f" at step {step} from the same noise"
                )
            token = onnx_sample
    return worst


def export_frame_model(
    checkpoint_path: str | Path,
    out_path: str | Path,
    name: str,
    description: str = "",
    parity_steps: int = 50,
    seed: int = 0,
) -> ModelCard:
    """Write the step graph of a frame-model checkpoint (e.g. RNN-NADE) to `out_path`."""
    model, checkpoint = load_checkpoint(checkpoint_path)
    model.eval()
    card = build_card(model, checkpoint, name, description)
    graph = FrameStepGraph(model).eval()
    io = card.io
    keys = card.vocab_size
    example = (torch.zeros(1, keys), torch.ones(1), torch.rand(1, keys), torch.zeros(keys),
               *model.initial_state(1))
    input_names = [io.token, io.temperature, io.uniform, io.logit_bias] + [
        s.input for s in card.state]
    output_names = [io.sample, io.logits] + [s.output for s in card.state]
    _write_checked(graph, example, input_names, output_names, card, description, out_path,
                   lambda path: check_frame_parity(graph, card, path, parity_steps, seed),
                   parity_steps)
    return card


def check_frame_parity(
    graph: FrameStepGraph, card: ModelCard, onnx_path: Path, steps: int, seed: int
) -> float:
    """`check_parity` for a frame graph: same logits (within tolerance) and same frames,
    each step fed the frame both sampled. The engine's StepModel drives token graphs only,
    so this runs the graph in onnxruntime directly."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    io = card.io
    outputs = [io.sample, io.logits] + [s.output for s in card.state]
    rng = np.random.default_rng(seed)
    keys = card.vocab_size
    bias = np.zeros(keys, dtype=np.float32)
    temperature = np.ones(1, dtype=np.float32)
    state = [t.numpy() for t in graph.model.initial_state(1)]
    frame, worst = np.zeros((1, keys), dtype=np.float32), 0.0
    with torch.no_grad():
        for step in range(steps):
            uniform = rng.random((1, keys), dtype=np.float32)
            torch_sample, torch_logits, *torch_state = graph(
                torch.from_numpy(frame), torch.from_numpy(temperature),
                torch.from_numpy(uniform), torch.from_numpy(bias),
                *(torch.from_numpy(s) for s in state))
            feed = {io.token: frame, io.temperature: temperature, io.uniform: uniform,
                    io.logit_bias: bias} | {s.input: v for s, v in zip(card.state, state,
                                                                        strict=True)}
            onnx_sample, onnx_logits, *state = session.run(outputs, feed)
            gap = float(np.abs(onnx_logits - torch_logits.numpy()).max())
            worst = max(worst, gap)
            if gap > PARITY_TOLERANCE:
                raise ExportError(
                    f"{onnx_path}: onnxruntime and torch logits differ by {gap:.2e} at step "
                    f"{step} (tolerance {PARITY_TOLERANCE:.0e})"
                )
            if not np.array_equal(onnx_sample, torch_sample.numpy()):
                raise ExportError(
                    f"{onnx_path}: onnxruntime and torch sampled different frames at step "
                    f"{step} from the same noise"
                )
            frame = onnx_sample.astype(np.float32)
    return worst
