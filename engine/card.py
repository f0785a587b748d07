"""The model card: JSON in the ONNX file's metadata that says how to drive the graph.

The engine reads only the card and the graph; it never imports model code. A card names
the representation and its version, the vocabulary, the step graph's inputs, outputs and
state tensors, the time resolution, the training data and the held-out metrics.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CARD_METADATA_KEY = "antiphon_card"
CARD_VERSION = 1
REPRESENTATIONS = ("events", "pianoroll")


class ModelLoadError(OSError):
    """A model file that cannot be used: missing, corrupt, or without a valid card."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"cannot load model {str(path)!r}: {problem}")
        self.path = Path(path)
        self.problem = problem


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
    card_version: int = CARD_VERSION

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """Parse and validate a card; raises ValueError naming the faulty field."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"model card is not valid JSON ({err})") from err
        if not isinstance(data, dict):
            raise ValueError("model card must be a JSON object")
        version = data.get("card_version")
        if version != CARD_VERSION:
            raise ValueError(
                f"model card version {version!r} is not supported (want {CARD_VERSION})"
            )
        required = ("name", "family", "representation", "representation_version", "codec",
                    "vocabulary", "state")
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(f"model card lacks {', '.join(missing)}")
        if data["representation"] not in REPRESENTATIONS:
            raise ValueError(
                f"model card representation {data['representation']!r} is not one of "
                f"{', '.join(REPRESENTATIONS)}"
            )
        if not isinstance(data["vocabulary"], list) or not data["vocabulary"]:
            raise ValueError("model card vocabulary must be a non-empty list of token names")
        try:
            state = [
                StateTensor(s["input"], s["output"], tuple(int(d) for d in s["shape"]),
                            s.get("dtype", "float32"))
                for s in data["state"]
            ]
            io = StepIO(**data.get("io", {}))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"model card has a malformed state or io entry ({err})") from err
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"model card has unknown fields: {sorted(unknown)}")
        return cls(**{**data, "state": state, "io": io})
