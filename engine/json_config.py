"""JSON for the versioned dataclass configs of the representations (MidiTok's habit: a
representation is a class with a config that round-trips through JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, TypeVar

Config = TypeVar("Config", bound="JsonConfig")

# The field types a config may declare, by the annotation's name (the configs use
# `from __future__ import annotations`, so annotations arrive as strings).
FIELD_TYPES: dict[str, type] = {"int": int, "bool": bool, "float": float, "str": str}


SHOWN_CHARACTERS = 60  # of a refused value in an error message: enough to recognise it


def shown(value: Any, quoted: bool = True) -> str:
    """A value read from JSON as an error message shows it: repr'd (or, unquoted, the bare
    text), on one line, cut short, so a bad field of a megabyte is a one-line message."""
    text = repr(value) if quoted or not isinstance(value, str) else value
    text = " ".join(text.split())
    if len(text) > SHOWN_CHARACTERS:
        text = text[:SHOWN_CHARACTERS - 3] + "..."
    return text


def is_of_type(value: Any, wanted: type) -> bool:
    """isinstance, except that JSON's true / false is not a number and an int is a float."""
    if wanted is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if wanted is float:
        return isinstance(value, int | float)
    return isinstance(value, wanted)


class JsonConfig:
    """Mixin for a frozen dataclass: to_json / from_dict / from_json.

    Unknown fields are an error rather than ignored: a config from a newer Antiphon must
    not be read as if it meant something else. So is a value of the wrong type ("88" or
    88.0 keys): it would pass some checks and fail far away, at play time.
    """

    config_name = "config"  # how error messages name it, e.g. "events codec"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[Config], data: dict[str, Any]) -> Config:
        if not isinstance(data, dict):
            raise ValueError(f"{cls.config_name} config must be a JSON object, got "
                             f"{type(data).__name__}")
        declared = {f.name: f.type for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - set(declared)
        if unknown:
            raise ValueError(f"unknown {cls.config_name} fields: "
                             f"{', '.join(shown(name) for name in sorted(unknown))}")
        for name, value in data.items():
            annotation = declared[name]
            wanted = FIELD_TYPES.get(annotation if isinstance(annotation, str)
                                     else getattr(annotation, "__name__", ""))
            if wanted is not None and not is_of_type(value, wanted):
                raise ValueError(f"{cls.config_name} field {name} must be {wanted.__name__}, "
                                 f"got {shown(value)}")
        return cls(**data)

    @classmethod
    def from_json(cls: type[Config], text: str) -> Config:
        return cls.from_dict(json.loads(text))
