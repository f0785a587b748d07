"""JSON for the versioned dataclass configs of the representations (MidiTok's habit: a
representation is a class with a config that round-trips through JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, TypeVar

Config = TypeVar("Config", bound="JsonConfig")


class JsonConfig:
    """Mixin for a frozen dataclass: to_json / from_dict / from_json.

    Unknown fields are an error rather than ignored: a config from a newer Antiphon must
    not be read as if it meant something else.
    """

    config_name = "config"  # how error messages name it, e.g. "events codec"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[Config], data: dict[str, Any]) -> Config:
        unknown = set(data) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown {cls.config_name} fields: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls: type[Config], text: str) -> Config:
        return cls.from_dict(json.loads(text))
