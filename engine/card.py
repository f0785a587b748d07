"""The model card: JSON in the ONNX file's metadata that says how to drive the graph.

The engine reads only the card and the graph; it never imports model code. A card names
the representation and its version, the vocabulary, the step graph's inputs, outputs and
state tensors, the time resolution, the training data and the held-out metrics.

A card comes from a file anyone may have written, so every field is checked here, type
and value, before anything uses it: a bad card is one error naming the field
(`CardFieldError`), never a KeyError or TypeError from deep inside the engine. Checks
against the graph itself (shapes, dtypes, sizes) live in card_checks.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from antiphon.engine import codec as events_codec
from antiphon.engine import pianoroll
from antiphon.engine.codec import EventCodec, EventCodecConfig
from antiphon.engine.events import TICKS_PER_BEAT
from antiphon.engine.json_config import JsonConfig, is_of_type, shown
from antiphon.engine.pianoroll import PianoRollCodecConfig

CARD_METADATA_KEY = "antiphon_card"
CARD_VERSION = 1
# Each representation's codec config and the version of it this Antiphon reads.
CODEC_CONFIGS: dict[str, type[JsonConfig]] = {
    "events": EventCodecConfig, "pianoroll": PianoRollCodecConfig,
}
REPRESENTATION_VERSIONS = {
    "events": events_codec.REPRESENTATION_VERSION, "pianoroll": pianoroll.REPRESENTATION_VERSION,
}
REPRESENTATIONS = tuple(CODEC_CONFIGS)
# The numpy dtypes onnxruntime takes as tensors (state may be any of them: a Transformer
# keeps its cache position as int64).
TENSOR_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "uint16", "uint32", "uint64", "bool")
# A step model's state lives in memory for the whole session and is copied at each step;
# a card asking for more than this (1 GiB of float32) is a broken card, not a big model.
MAX_STATE_ELEMENTS = 2**28
# How the graph stores its weights: "float32" as exported, "int8" once quantised
# (training/quantize.py). The engine drives both alike; the field tells readers which.
PRECISIONS = ("float32", "int8")
REQUIRED_FIELDS = ("name", "family", "representation", "representation_version", "codec",
                   "vocabulary", "state")


class ModelLoadError(OSError):
    """A model file that cannot be used: missing, corrupt, or without a valid card."""

    def __init__(self, path: str | Path, problem: str) -> None:
        # One line, whatever the cause: onnxruntime's messages span several, and this one
        # ends up as the single error line of `antiphon run` or in a service's journal.
        problem = " ".join(str(problem).split())
        super().__init__(f"cannot load model {str(path)!r}: {problem}")
        self.path = Path(path)
        self.problem = problem


class CardFieldError(ValueError):
    """A card field with the wrong type or an impossible value; the message names it."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"card field {field_name} {problem}")
        self.field = field_name


@dataclass(frozen=True)
class StateTensor:
    """One recurrent state tensor: fed in as `input`, read back from `output`."""

    input: str  # graph input name, e.g. "h_in"
    output: str  # graph output name, e.g. "h_out"
    shape: tuple[int, ...]  # e.g. (layers, batch=1, hidden)
    dtype: str = "float32"


@dataclass(frozen=True)
class StepIO:
    """Names of the step graph's non-state inputs and outputs."""

    token: str = "token"  # int64 [1]: the previous token
    temperature: str = "temperature"  # float32 [1]: > 0, divides the logits
    # float32 [1] in (0, 1]: sample among the likeliest tokens holding this much
    # probability (1: all). "" for a graph without one (piano-roll frames are Bernoulli).
    top_p: str = "top_p"
    uniform: str = "uniform"  # float32 [1, vocab]: U(0,1) noise for Gumbel-max sampling
    logit_bias: str = "logit_bias"  # float32 [vocab]: added to logits (-1e9 masks a token)
    sample: str = "sample"  # int64 [1]: the sampled next token
    logits: str = "logits"  # float32 [1, vocab]: unnormalised log-probabilities

    def inputs(self) -> dict[str, str]:
        """Card field -> graph input name, for the inputs the graph has."""
        names = {"token": self.token, "temperature": self.temperature, "top_p": self.top_p,
                 "uniform": self.uniform, "logit_bias": self.logit_bias}
        return {key: name for key, name in names.items() if name}

    def outputs(self) -> dict[str, str]:
        return {"sample": self.sample, "logits": self.logits}


@dataclass(frozen=True)
class ModelCard:
    """Everything the engine needs to know about an exported model."""

    name: str  # short name, used by `--model NAME`
    family: str  # model family, e.g. "lstm"
    representation: str  # "events" or "pianoroll"
    representation_version: int  # version of that representation's config
    codec: dict[str, Any]  # the representation's JSON config (vocabulary layout)
    vocabulary: list[str]  # token names; index = token id
    state: list[StateTensor]  # recurrent state tensors of the step graph
    io: StepIO = field(default_factory=StepIO)
    ticks_per_beat: int = 24  # time resolution
    description: str = ""  # one line for `antiphon models`
    training: dict[str, Any] = field(default_factory=dict)  # data, pieces, epochs, config
    metrics: dict[str, Any] = field(default_factory=dict)  # held-out figures, baselines
    precision: str = "float32"  # the weights' storage: one of PRECISIONS
    card_version: int = CARD_VERSION

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """Parse and validate a card; raises ValueError (CardFieldError where a field is
        at fault) naming what is wrong."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise ValueError(f"model card is not valid JSON ({err})") from err
        return card_from_dict(data)


def card_from_dict(data: Any) -> ModelCard:
    """A ModelCard from parsed JSON, every field checked (see the module docstring)."""
    if not isinstance(data, dict):
        raise ValueError(f"model card must be a JSON object, got {type(data).__name__}")
    if "card_version" not in data:
        raise CardFieldError("card_version", "is missing")
    version = data["card_version"]
    if not (is_of_type(version, int) and version == CARD_VERSION):
        raise CardFieldError("card_version", f"{shown(version)} is not supported (this "
                             f"Antiphon reads version {CARD_VERSION})")
    unknown = sorted(set(data) - {f.name for f in fields(ModelCard)})
    if unknown:
        raise CardFieldError(shown(unknown[0], quoted=False),
                             "is not a card field this Antiphon knows")
    for name in REQUIRED_FIELDS:
        if name not in data:
            raise CardFieldError(name, "is missing")
    representation = data["representation"]
    if representation not in REPRESENTATIONS:
        raise CardFieldError("representation", f"{shown(representation)} is not one of "
                             f"{', '.join(REPRESENTATIONS)}")
    version = _positive_int(data["representation_version"], "representation_version")
    if version != REPRESENTATION_VERSIONS[representation]:
        raise CardFieldError("representation_version", f"{version} is not supported for "
                             f"{representation} (this Antiphon reads version "
                             f"{REPRESENTATION_VERSIONS[representation]})")
    ticks_per_beat = _positive_int(data.get("ticks_per_beat", TICKS_PER_BEAT), "ticks_per_beat")
    if ticks_per_beat != TICKS_PER_BEAT:
        raise CardFieldError("ticks_per_beat", f"is {ticks_per_beat}, but the engine counts "
                             f"{TICKS_PER_BEAT} ticks per beat")
    codec = _object(data["codec"], "codec")
    vocabulary = _vocabulary(data["vocabulary"])
    _check_codec(representation, codec, len(vocabulary))
    state = [_state_tensor(entry, f"state[{index}]")
             for index, entry in enumerate(_list(data["state"], "state"))]
    io = _step_io(data.get("io", {}))
    _check_names_distinct(io, state)
    return ModelCard(
        name=_text(data["name"], "name", required=True),
        family=_text(data["family"], "family", required=True),
        representation=representation,
        representation_version=version,
        codec=codec,
        vocabulary=vocabulary,
        state=state,
        io=io,
        ticks_per_beat=ticks_per_beat,
        description=_text(data.get("description", ""), "description"),
        training=_object(data.get("training", {}), "training"),
        metrics=_object(data.get("metrics", {}), "metrics"),
        precision=_precision(data.get("precision", "float32")),
    )


# -- one checker per kind of field; each names the field it refuses ----------------------
def _text(value: Any, name: str, required: bool = False) -> str:
    if not isinstance(value, str):
        raise CardFieldError(name, f"must be a string, got {shown(value)}")
    if required and not value.strip():
        raise CardFieldError(name, "must not be empty")
    return value


def _positive_int(value: Any, name: str) -> int:
    if not is_of_type(value, int) or value <= 0:
        raise CardFieldError(name, f"must be an integer > 0, got {shown(value)}")
    return value


def _precision(value: Any) -> str:
    if value not in PRECISIONS:
        raise CardFieldError("precision", f"{shown(value)} is not one of {', '.join(PRECISIONS)}")
    return value


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CardFieldError(name, f"must be a JSON object, got {type(value).__name__}")
    return value


def _list(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise CardFieldError(name, f"must be a list, got {type(value).__name__}")
    return value


def _vocabulary(value: Any) -> list[str]:
    tokens = _list(value, "vocabulary")
    if not tokens:
        raise CardFieldError("vocabulary", "must not be empty")
    for index, token in enumerate(tokens):
        if not isinstance(token, str):
            raise CardFieldError(f"vocabulary[{index}]", f"must be a string, got {shown(token)}")
    return tokens


def _check_codec(representation: str, codec: dict[str, Any], vocab_size: int) -> None:
    """The codec config must be one this Antiphon reads, and make the card's vocabulary."""
    config_class = CODEC_CONFIGS[representation]
    try:
        config = config_class.from_dict(codec)
    except (ValueError, TypeError) as err:
        raise CardFieldError("codec", f"is not a valid {config_class.config_name} "
                             f"config: {err}") from err
    if isinstance(config, EventCodecConfig):
        made = EventCodec(config).vocab_size
        if made != vocab_size:
            raise CardFieldError("vocabulary", f"has {vocab_size} tokens, but the card's codec "
                                 f"makes {made}")
    elif isinstance(config, PianoRollCodecConfig) and config.keys != vocab_size:
        raise CardFieldError("vocabulary", f"has {vocab_size} keys, but the card's codec has "
                             f"{config.keys}")


def _state_tensor(entry: Any, name: str) -> StateTensor:
    entry = _object(entry, name)
    unknown = sorted(set(entry) - {f.name for f in fields(StateTensor)})
    if unknown:
        raise CardFieldError(f"{name}.{shown(unknown[0], quoted=False)}",
                             "is not a state field this Antiphon knows")
    for key in ("input", "output", "shape"):
        if key not in entry:
            raise CardFieldError(f"{name}.{key}", "is missing")
    shape = _list(entry["shape"], f"{name}.shape")
    if not all(is_of_type(dim, int) and dim > 0 for dim in shape):
        raise CardFieldError(f"{name}.shape", f"must be a list of integers > 0, got "
                             f"{shown(shape)}")
    elements = 1
    for dim in shape:
        elements *= dim
    if elements > MAX_STATE_ELEMENTS:
        raise CardFieldError(f"{name}.shape", f"{shape} holds {elements} elements, more than "
                             f"a step model's state can ({MAX_STATE_ELEMENTS})")
    dtype = entry.get("dtype", "float32")
    if dtype not in TENSOR_DTYPES:
        raise CardFieldError(f"{name}.dtype", f"{shown(dtype)} is not a tensor dtype onnxruntime "
                             f"takes ({', '.join(TENSOR_DTYPES)})")
    return StateTensor(_text(entry["input"], f"{name}.input", required=True),
                       _text(entry["output"], f"{name}.output", required=True),
                       tuple(shape), dtype)


def _step_io(value: Any) -> StepIO:
    names = _object(value, "io")
    known = {f.name for f in fields(StepIO)}
    unknown = sorted(set(names) - known)
    if unknown:
        raise CardFieldError(f"io.{shown(unknown[0], quoted=False)}",
                             "is not an io field this Antiphon knows")
    for key, name in names.items():
        # top_p alone may be "": a graph without a nucleus input (Bernoulli frames).
        _text(name, f"io.{key}", required=key != "top_p")
    return StepIO(**names)


def _check_names_distinct(io: StepIO, state: list[StateTensor]) -> None:
    """Two card fields naming one graph tensor would feed it twice, or read one output as
    two things."""
    for side, io_names in (("input", io.inputs()), ("output", io.outputs())):
        named = [(f"io.{key}", name) for key, name in io_names.items()]
        named += [(f"state[{index}].{side}", getattr(tensor, side))
                  for index, tensor in enumerate(state)]
        seen: dict[str, str] = {}
        for where, name in named:
            if name in seen:
                raise CardFieldError(where, f"names {shown(name)}, which {seen[name]} names too")
            seen[name] = where
