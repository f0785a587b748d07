"""One option's value, read for its field's type: converted from text (the environment,
the command line, `antiphon set`, a knob's range) or checked as it came (TOML, OSC). A
value of the wrong kind raises ConfigError naming the option and where the value came
from; DaemonConfig then checks the values as a whole.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

from antiphon.daemon.config.config_fields import ConfigFields
from antiphon.daemon.config.numbers import exact_number_problem
from antiphon.daemon.config.option_names import ConfigError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# Options that are lists written as one text ("1-9,11-16", "default, transformer"); from
# TOML or OSC they may come as a number (`listen_channels = 5`) or an array
# (`listen_channels = [1, 2]`), read as the text they stand for. Channel lists take
# numbers; program_models takes names, cc_map knobs (`cc_map = ["temperature=21", ...]`).
LIST_FIELDS = {"listen_channels": int, "knob_channel": int, "program_models": str,
               "cc_map": str}
_CHANNELS = "channels as text ('1-9,11-16', 'all'), a channel number or an array of them"
LIST_KINDS = {"listen_channels": _CHANNELS, "knob_channel": _CHANNELS,
              "program_models": "model names as text ('default, transformer') or an array "
                                "of them",
              "cc_map": "knobs as text ('temperature=21, top_p=22') or an array of them"}


@functools.cache
def field_types() -> dict[str, Any]:
    """Each option's type as its field declares it (`float`, `str | None`, ...)."""
    return typing.get_type_hints(ConfigFields)


def base_type(field_name: str) -> tuple[type, bool]:
    """(the field's value type, whether it may be None)."""
    hint = field_types()[field_name]
    if isinstance(hint, types.UnionType):
        members = [member for member in hint.__args__ if member is not type(None)]
        return members[0], True
    return hint, False


def coerce_value(field_name: str, value: Any, source: str, from_text: bool = False) -> Any:
    """Check (TOML, OSC) or convert (environment or command text: `from_text`, or a source
    that is the environment) one value for `field_name`."""
    kind, optional = base_type(field_name)
    where = f"from {source}"
    if isinstance(value, str) and (from_text or source.startswith("environment")):
        if value == "" and optional:
            return None
        if kind is bool:
            if value.strip().casefold() in TRUE_WORDS | FALSE_WORDS:
                return value.strip().casefold() in TRUE_WORDS
            raise ConfigError(field_name, f"expected true or false, got {value!r} {where}")
        if kind is float or kind is int:
            # ASCII digits only: Python's int() and float() also take "1_0" and other
            # scripts' digits, which no one means as a tempo.
            text = value.strip()
            try:
                if not text.isascii() or "_" in text:
                    raise ValueError(text)
                number = kind(text)
            except ValueError as err:
                raise ConfigError(
                    field_name, f"expected {_kind_name(kind)}, got {value!r} {where}"
                ) from err
            if kind is float:
                number = _as_float(field_name, number, where)
                exactly(field_name, text, number, where)
            return number
        return value
    if optional and value is None:
        return None
    if field_name in LIST_FIELDS:
        value = _list_text(field_name, value)
        if not isinstance(value, str):  # "expected text" would send the user astray
            shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:60]}..."
            raise ConfigError(field_name, f"expected {LIST_KINDS[field_name]}, "
                              f"got {shown} {where}")
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        number = _as_float(field_name, value, where)
        if isinstance(value, TomlFloat):
            exactly(field_name, value.text, number, where)
        return number
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ConfigError(field_name, f"expected {_kind_name(kind)}, got {value!r} {where}")


def _list_text(field_name: str, value: Any) -> Any:
    """A list option's number or array as its text; anything else as it came."""
    item = LIST_FIELDS[field_name]
    items = value if isinstance(value, list) else [value]
    if item is int and all(isinstance(one, int) and not isinstance(one, bool)
                           for one in items):
        return ",".join(str(one) for one in items)
    if isinstance(value, list) and value and all(isinstance(one, str | int)
                                                 and not isinstance(one, bool)
                                                 for one in value):
        return ", ".join(str(one) for one in value)
    return value


class TomlFloat(float):
    """A float with the text it was written as: a TOML file's (read_toml's parse_float) or
    the command line's (its number options' parser)."""

    text: str

    def __new__(cls, text: str) -> TomlFloat:
        number = super().__new__(cls, text)
        number.text = text
        return number


def exactly(field_name: str, text: str, number: float, where: str) -> None:
    """A number whose float hides that it is past a limit (exact_number_problem) refused,
    said as given."""
    problem = exact_number_problem(field_name, text, number)
    if problem is not None:
        raise ConfigError(field_name, f"{problem} ({where})")


def _as_float(field_name: str, value: int | float, where: str) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise ConfigError(field_name, f"expected a number, got one far too large {where}"
                          ) from None


def _kind_name(kind: type) -> str:
    names = {float: "a number", int: "a whole number", str: "text", bool: "true or false"}
    return names.get(kind, kind.__name__)
