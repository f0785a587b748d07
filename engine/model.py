"""One exported step graph under onnxruntime: load, check against its card, step.

Every model is a step function `(token, state..., sampling inputs) -> (sample, logits,
state...)`; the names come from the card, so this file knows no model family.

A model is called loaded only once its card has passed every check (card.py, field by
field; card_checks.py, against the graph) and one real step has run: any fault of the
file is one ModelLoadError at load, never a crash at the player's first note.

On CUDA the step runs through IO binding: the state tensors the graph returns stay on the
GPU as onnxruntime values and go straight back in at the next step, so only the inputs
(a token, the noise, the masks) and the sample and logits (a few hundred bytes) cross the
bus. The state is opaque to callers (numpy arrays on the plain path, `OrtValue`s when
bound); each step returns fresh ones, so keeping an old state to rewind to stays valid.

Batched steps (`step_batch`) run N sequences through the graph at once, each row with its
own token, noise, logit bias and state: the weights are read once for all N, which is what
makes sampling N candidate answers (best of N) cheap. A graph steps in batches when its
token input's first dimension and one dimension of each state input are symbolic
("batch"), as `antiphon export` writes recurrent event models (training/batch_axes.py);
other graphs step one row at a time (`batch_axes` is None). A bound model (CUDA) runs the
batch through IO binding too; the batch's states cross to the host at each step, where
the candidates keep them to rewind to.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from antiphon.engine.card import CARD_METADATA_KEY, CardFieldError, ModelCard, ModelLoadError
from antiphon.engine.card_checks import check_card_against_graph, check_first_step

log = logging.getLogger(__name__)

# onnxruntime's errors derive straight from Exception; these are the ones a bad file raises,
# when it is read or when its graph first runs.
ORT_ERRORS = tuple(
    getattr(ort_state, name)
    for name in ("Fail", "InvalidArgument", "InvalidProtobuf", "NoSuchFile", "NoModel",
                 "InvalidGraph", "NotImplemented", "RuntimeException", "EPFail", "EngineError",
                 "NotFound")
    if hasattr(ort_state, name)
)
# A step run through IO binding reports a failing graph as a plain RuntimeError.
STEP_ERRORS = (*ORT_ERRORS, RuntimeError)

DEVICES = ("auto", "cpu", "cuda")


def cuda_usable() -> bool:
    """True when onnxruntime can run on an NVIDIA GPU here.

    onnxruntime-gpu lists the CUDA provider even on a machine without a GPU and then logs
    errors when a session asks for it, so look for the driver's device node first.
    """
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    return sys.platform == "win32" or os.path.exists("/dev/nvidiactl")


def providers_for(device: str) -> list[str]:
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not cuda_usable():
        raise ValueError("device 'cuda' asked for, but onnxruntime finds no usable CUDA GPU")
    if device == "cuda" or (device == "auto" and cuda_usable()):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def read_card(session: ort.InferenceSession, path: Path) -> ModelCard:
    """The file's card, checked field by field and against the graph; ModelLoadError
    (one line, naming the file and the field) for anything wrong."""
    try:
        metadata = session.get_modelmeta().custom_metadata_map
    except UnicodeDecodeError as err:
        raise ModelLoadError(path, f"its metadata (the model card) is not UTF-8 text ({err})"
                             ) from err
    if CARD_METADATA_KEY not in metadata:
        raise ModelLoadError(
            path, f"the file has no model card (metadata key {CARD_METADATA_KEY!r})"
        )
    try:
        card = ModelCard.from_json(metadata[CARD_METADATA_KEY])
        check_card_against_graph(session, card)
    except ValueError as err:  # CardFieldError included
        raise ModelLoadError(path, str(err)) from err
    return card


class StepModel:
    """An onnxruntime session over one step graph, with its card."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 1,
                 io_binding: bool | None = None) -> None:
        """`io_binding`: None binds on CUDA only; True binds on CPU too (same results,
        used to test the bound path on machines without a GPU)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(self.path, "not a file" if self.path.exists() else "no such file")
        options = ort.SessionOptions()
        # One thread, no spinning: a step is small, and spare cores belong to the
        # scheduler and the MIDI threads, which must never wait for a step.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        providers = providers_for(device)
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=providers,
                # On a failure onnxruntime prints a banner and retries on the CPU: from
                # the CPU, that only repeats the failure, after cluttering the output.
                enable_fallback=int(providers != ["CPUExecutionProvider"]),
            )
        except ORT_ERRORS as err:
            raise ModelLoadError(self.path, f"onnxruntime cannot read it ({err})") from err
        except UnicodeDecodeError as err:  # a name in the file that is not UTF-8 text
            raise ModelLoadError(self.path, f"onnxruntime cannot read it: a name in it is not "
                                 f"UTF-8 text ({err})") from err
        self.card = read_card(self.session, self.path)
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        io = self.card.io
        self._output_names = [io.sample, io.logits] + [s.output for s in self.card.state]
        self.io_binding = self.device == "cuda" if io_binding is None else io_binding
        self._binding = self.session.io_binding() if self.io_binding else None
        self._token = np.zeros(1, dtype=np.int64)
        self._temperature = np.ones(1, dtype=np.float32)
        self._top_p = np.ones(1, dtype=np.float32)
        inputs = {node.name: node for node in self.session.get_inputs()}
        # A graph with batch axes takes its logit bias per row ([batch, vocab]).
        self._bias_rows = len(inputs[io.logit_bias].shape or ()) == 2
        self.batch_axes = _batch_axes(inputs, self.card)
        self._check_first_step()
        log.info("loaded %s (%s) from %s on %s",
                 self.card.name, self.card.family, self.path, self.device)

    def _check_first_step(self) -> None:
        """Run one real step (the initial state, a first token or a silent frame) before
        the model is called loaded: a graph that fails at run time, or returns other
        shapes than its card says, is refused now rather than at the player's first note."""
        card, io = self.card, self.card.io
        vocab = card.vocab_size
        if card.representation == "pianoroll":
            first = np.zeros((1, vocab), dtype=np.float32)  # silence before the start
        else:
            first = np.zeros(1, dtype=np.int64)  # token 0: BOS, every sequence's first
        feed = {io.token: first, io.temperature: np.ones(1, dtype=np.float32),
                io.uniform: np.full((1, vocab), 0.5, dtype=np.float32),
                io.logit_bias: np.zeros((1, vocab) if self._bias_rows else vocab,
                                        dtype=np.float32)}
        if io.top_p:
            feed[io.top_p] = np.ones(1, dtype=np.float32)
        # onnxruntime would also log a failing step to stderr; the error says it once.
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4
        try:
            sample, logits, state = self._run(feed, self.initial_state(), quiet)
            check_first_step(card, sample, logits, state)
        except STEP_ERRORS as err:
            raise ModelLoadError(self.path, f"the graph fails at its first step ({err})") from err
        except CardFieldError as err:
            raise ModelLoadError(self.path, str(err)) from err

    def initial_state(self) -> list:
        zeros = [np.zeros(s.shape, dtype=s.dtype) for s in self.card.state]
        if self._binding is None:
            return zeros
        return [ort.OrtValue.ortvalue_from_numpy(z, self.device, 0) for z in zeros]

    def step(
        self,
        token: int,
        state: list,
        temperature: float,
        uniform: np.ndarray,
        logit_bias: np.ndarray,
        top_p: float = 1.0,
    ) -> tuple[int, np.ndarray, list]:
        """Feed one token; returns (sampled next token, logits [1, vocab], new state)."""
        io = self.card.io
        self._token[0] = token
        self._temperature[0] = temperature
        if self._bias_rows:
            logit_bias = logit_bias.reshape(1, -1)
        feed = {
            io.token: self._token,
            io.temperature: self._temperature,
            io.uniform: uniform,
            io.logit_bias: logit_bias,
        }
        if io.top_p:
            self._top_p[0] = top_p
            feed[io.top_p] = self._top_p
        sample, logits, new_state = self._run(feed, state)
        return int(sample[0]), logits, new_state

    def step_batch(
        self,
        tokens: np.ndarray,
        state: list,
        temperature: float,
        uniform: np.ndarray,
        logit_bias: np.ndarray,
        top_p: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """Feed one token to each of N rows: int64 [N] tokens, a state from `batch_state`,
        float32 [N, vocab] noise and logit biases. Returns (samples int64 [N], logits
        [N, vocab], new batch state). Only for a graph with `batch_axes`."""
        if self.batch_axes is None:
            raise ValueError(f"{self.card.name}'s step graph has no batch axis")
        io = self.card.io
        self._temperature[0] = temperature
        feed = {io.token: np.asarray(tokens, dtype=np.int64), io.temperature: self._temperature,
                io.uniform: uniform, io.logit_bias: logit_bias}
        if io.top_p:
            self._top_p[0] = top_p
            feed[io.top_p] = self._top_p
        if self._binding is None:
            return self._run(feed, state)
        binding = self._binding  # the batch's states are host arrays (module docstring)
        for name, value in feed.items():
            binding.bind_cpu_input(name, value)
        for tensor, value in zip(self.card.state, state, strict=True):
            binding.bind_cpu_input(tensor.input, value)
        for name in self._output_names:
            binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(binding)
        sample, logits, *new_state = (value.numpy() for value in binding.get_outputs())
        return sample, logits, new_state

    def batch_state(self, state: list, rows: int) -> list[np.ndarray]:
        """A one-row state (from `step`) repeated into `rows` rows, for `step_batch`."""
        return [np.repeat(_host(value), rows, axis=axis)
                for value, axis in zip(state, self.batch_axes, strict=True)]

    def row_state(self, state: list[np.ndarray], row: int) -> list:
        """Row `row` of a batch state, as a one-row state `step` takes."""
        rows = [np.take(value, [row], axis=axis).copy()
                for value, axis in zip(state, self.batch_axes, strict=True)]
        if self._binding is None:
            return rows
        return [ort.OrtValue.ortvalue_from_numpy(value, self.device, 0) for value in rows]

    def step_frame(
        self,
        frame: np.ndarray,
        state: list,
        temperature: float,
        uniform: np.ndarray,
        logit_bias: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """A piano-roll graph's step: the previous frame float32 [1, keys] (1 = sounding)
        in; the next frame drawn key by key (Bernoulli, inside the graph), each key's
        conditional logit [1, keys] and the new state out."""
        io = self.card.io
        self._temperature[0] = temperature
        feed = {io.token: frame, io.temperature: self._temperature, io.uniform: uniform,
                io.logit_bias: logit_bias}
        return self._run(feed, state)

    def _run(self, feed: dict[str, np.ndarray], state: list,
             options: ort.RunOptions | None = None) -> tuple[np.ndarray, np.ndarray, list]:
        if self._binding is not None:
            return self._bound_run(feed, state, options)
        for tensor, value in zip(self.card.state, state, strict=True):
            feed[tensor.input] = value
        sample, logits, *new_state = self.session.run(self._output_names, feed, options)
        return sample, logits, new_state

    def _bound_run(self, feed: dict[str, np.ndarray], state: list,
                   options: ort.RunOptions | None) -> tuple[np.ndarray, np.ndarray, list]:
        binding = self._binding
        for name, value in feed.items():
            binding.bind_cpu_input(name, value)
        for tensor, value in zip(self.card.state, state, strict=True):
            binding.bind_ortvalue_input(tensor.input, value)
        # Sample and logits to the host (the decoder reads the sample); the state stays on
        # the device, in buffers onnxruntime allocates afresh at each run.
        binding.bind_output(self.card.io.sample, "cpu")
        binding.bind_output(self.card.io.logits, "cpu")
        for tensor in self.card.state:
            binding.bind_output(tensor.output, self.device)
        self.session.run_with_iobinding(binding, options)
        sample, logits, *new_state = binding.get_outputs()
        return sample.numpy(), logits.numpy(), new_state


def _host(value) -> np.ndarray:
    return value.numpy() if isinstance(value, ort.OrtValue) else value


def _batch_axes(inputs: dict, card: ModelCard) -> tuple[int, ...] | None:
    """Each state input's batch axis (its one symbolic dimension), or None when the graph
    steps one row at a time: an input of fixed shape, or a model that is not over events."""
    def symbolic(name: str) -> list[int]:
        shape = inputs[name].shape or ()
        return [axis for axis, size in enumerate(shape) if not isinstance(size, int)]

    if card.representation != "events" or symbolic(card.io.token) != [0]:
        return None
    axes = [symbolic(tensor.input) for tensor in card.state]
    if any(len(found) != 1 for found in axes) or symbolic(card.io.uniform) != [0]:
        return None
    return tuple(found[0] for found in axes)
