"""The token families' configs: `RecurrentConfig` (LSTM, GRU, Elman RNN) and
`TransformerConfig`, each field with its default and what it means.

Imports no torch: `antiphon train` reads its model options' defaults and their help from
here (`TOKEN_FAMILY_DEFAULTS`) without loading torch, so a default changed here changes
the command. The models that take these configs are in `recurrent.py` and
`transformer.py`, which import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CELL_NAMES = ("lstm", "gru", "rnn")  # the recurrent cells: LSTM, GRU, Elman (tanh)


@dataclass
class RecurrentConfig:
    cell: str = "lstm"  # "lstm", "gru" or "rnn" (Elman, tanh)
    vocab_size: int = 0  # set from the codec
    embedding: int = 128  # width of the token embedding
    hidden: int = 512  # width of the recurrent state
    layers: int = 2  # stacked recurrent layers
    dropout: float = 0.1  # between layers and before the output head (training only)

    def __post_init__(self) -> None:
        if self.cell not in CELL_NAMES:
            raise ValueError(f"cell must be one of {', '.join(CELL_NAMES)}, got {self.cell!r}")


@dataclass
class TransformerConfig:
    vocab_size: int = 0  # set from the codec
    layers: int = 4  # Transformer blocks
    heads: int = 4  # attention heads per block (each with its own ALiBi slope)
    width: int = 256  # model width (embedding and residual stream); a multiple of heads
    window: int = 512  # tokens a query attends to (itself included): the cache's length
    mlp_ratio: int = 4  # the feed-forward layer is mlp_ratio * width wide
    dropout: float = 0.1  # on attention weights, residual branches and embeddings (training)

    def __post_init__(self) -> None:
        for name in ("layers", "heads", "width", "window", "mlp_ratio"):
            if (value := getattr(self, name)) < 1:
                raise ValueError(f"TransformerConfig.{name} must be >= 1, got {value}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")

    @property
    def head_width(self) -> int:
        return self.width // self.heads


# What `antiphon train --family NAME` trains where no model option says otherwise. The
# recurrent family trains at dropout 0.2, the shipped `default` LSTM's (its dataclass
# default, 0.1, is what a bare config gets, e.g. in `train-frames --family lstm`).
TOKEN_FAMILY_DEFAULTS = {
    "recurrent": replace(RecurrentConfig(), dropout=0.2),
    "transformer": TransformerConfig(),
}

# `antiphon train` option -> config field, where the two names differ: --window is the
# training window (TrainConfig.window), so the Transformer's is --attention-window.
OPTION_FIELDS = {"attention_window": "window"}


def option_field(option: str) -> str:
    """The config field an `antiphon train` model option (as a Python name) sets."""
    return OPTION_FIELDS.get(option, option)


def family_option_defaults(option: str) -> dict[str, object]:
    """What a model option is when left out, per token family that has it:
    `family_option_defaults("layers") == {"recurrent": 2, "transformer": 4}`."""
    field = option_field(option)
    return {family: getattr(config, field)
            for family, config in TOKEN_FAMILY_DEFAULTS.items() if hasattr(config, field)}
