"""Reading the daemon's configuration from its layers: defaults < TOML file < environment
(`ANTIPHON_*`) < command line. Each value is checked or converted for its field's type
here, then `DaemonConfig` checks it as a whole; a bad value raises ConfigError naming the
option and the layer it came from.
"""

from __future__ import annotations

import difflib
import logging
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from antiphon.daemon.config import paths
from antiphon.daemon.config.daemon_config import (
    ENV_ALIASES,
    ENV_PREFIX,
    FALSE_WORDS,
    OTHER_VARIABLES,
    TRUE_WORDS,
    ConfigError,
    DaemonConfig,
    env_name,
    exact_number_problem,
    field_names,
)

log = logging.getLogger(__name__)

_FIELD_TYPES = typing.get_type_hints(DaemonConfig)
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
UTF8_BOM = b"\xef\xbb\xbf"  # what some Windows editors put first in a UTF-8 file
# Other encodings' byte-order marks (UTF-32 first: its little-endian mark begins with
# UTF-16's): said by name, as "not UTF-8 (byte 0xff)" would leave the user guessing.
OTHER_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
              (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _base_type(field_name: str) -> tuple[type, bool]:
    """(the field's value type, whether it may be None)."""
    hint = _FIELD_TYPES[field_name]
    if isinstance(hint, types.UnionType):
        members = [member for member in hint.__args__ if member is not type(None)]
        return members[0], True
    return hint, False


def coerce_value(field_name: str, value: Any, source: str, from_text: bool = False) -> Any:
    """Check (TOML, OSC) or convert (environment or command text: `from_text`, or a source
    that is the environment) one value for `field_name`."""
    kind, optional = _base_type(field_name)
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
                _exactly(field_name, text, number, where)
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
            _exactly(field_name, value.text, number, where)
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


def _exactly(field_name: str, text: str, number: float, where: str) -> None:
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


def read_toml(path: Path) -> dict[str, Any]:
    """The options in a TOML file: top-level keys named like the fields ('-' or '_')."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, as a package, where the standard library lacks it
        import tomli as tomllib

    try:
        with open(path, "rb") as file:
            raw = file.read()
        # A byte-order mark is no TOML, but it is UTF-8 all the same: read past it.
        data = tomllib.loads(raw.removeprefix(UTF8_BOM).decode("utf-8"),
                             parse_float=TomlFloat)
    except OSError as err:
        raise ConfigError(None, f"config file {path}: cannot read it ({err.strerror or err})"
                          ) from err
    except UnicodeDecodeError as err:  # TOML is UTF-8; a Latin-1 file says so here
        for mark, encoding in OTHER_BOMS:
            if raw.startswith(mark):
                raise ConfigError(None, f"config file {path}: {encoding} text (it starts "
                                  f"with a {encoding} byte-order mark); TOML is UTF-8: save "
                                  "it as UTF-8") from err
        raise ConfigError(None, f"config file {path}: not UTF-8 text (byte "
                                f"{err.object[err.start]:#04x} at offset {err.start}); "
                                "save it as UTF-8") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(None, f"config file {path}: not valid TOML ({err})") from err
    except RecursionError as err:
        raise ConfigError(None, f"config file {path}: not valid TOML (nested too deeply)"
                          ) from err
    known = set(field_names())
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            known_list = ", ".join(sorted(known))
            raise ConfigError(None, f"config file {path}: unknown option {key!r} ({known_list})")
        values[name] = coerce_value(name, value, f"TOML file {path}")
    return values


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The options in `ANTIPHON_*` variables. `ANTIPHON_IN` / `ANTIPHON_OUT` are the ports,
    as the flags `--in` / `--out` are; any other unknown name is a warning naming the
    closest option (a typo must not pass unnoticed), except the variables other parts of
    Antiphon read."""
    values: dict[str, Any] = {}
    known = set(field_names())
    for key, text in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = ENV_ALIASES.get(key[len(ENV_PREFIX):].lower(), key[len(ENV_PREFIX):].lower())
        if name not in known:
            if key not in OTHER_VARIABLES:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"; did you mean {env_name(close[0])}?" if close else ""
                log.warning("ignoring %s: not an option of antiphon run%s", key, hint)
            continue
        values[name] = coerce_value(name, text, f"environment variable {key}")
    return values


def load_config(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    use_default_file: bool = True,
) -> DaemonConfig:
    """Defaults < the config file < `environ` (ANTIPHON_*) < `overrides` (the command line,
    only the options given). The config file is `config_file`, else the platform's
    (paths.config_file()) if it exists and `use_default_file`. Raises ConfigError naming
    the option at fault, and the layer its value came from."""
    return load_config_with_sources(config_file, environ, overrides,
                                    use_default_file=use_default_file)[0]


def load_config_with_sources(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    use_default_file: bool = True,
) -> tuple[DaemonConfig, dict[str, str]]:
    """load_config, and for every field where its value came from: "default", "file PATH",
    "environment ANTIPHON_X" or "command line"."""
    if config_file is None and use_default_file:
        config_file = paths.existing_config_file()
    environ = environ or {}
    values: dict[str, Any] = {}
    sources = dict.fromkeys(field_names(), "default")
    for name, value in (read_toml(config_file) if config_file else {}).items():
        values[name], sources[name] = value, f"file {config_file}"
    for name, value in read_environment(environ).items():
        variable = [key for key in environ if _sets_field(key, name)][-1]  # the last wins
        values[name], sources[name] = value, f"environment {variable}"
    for name, value in (overrides or {}).items():
        if name not in _FIELD_TYPES:
            raise ConfigError(None, f"unknown option {name!r}")
        if isinstance(value, TomlFloat):  # a number's text kept: held to its limits exactly
            _exactly(name, value.text, float(value), "from the command line")
            value = float(value)
        if value is not None:  # None: not given on the command line
            values[name], sources[name] = value, "command line"
    try:
        return DaemonConfig(**values), sources
    except ConfigError as err:
        # Say which layer the bad value came from: the user has to know where to fix it.
        if sources.get(err.field or "", "default") == "default":
            raise
        kind, _, where = sources[err.field].partition(" ")
        layer = {"file": f"TOML file {where}", "environment": f"environment variable {where}"}
        problem = f"{err.problem} (from {layer.get(kind, 'the command line')})"
        raise ConfigError(err.field, problem) from None


def _sets_field(variable: str, field_name: str) -> bool:
    """Whether environment variable `variable` sets `field_name` (ANTIPHON_IN: in_port)."""
    name = variable[len(ENV_PREFIX):].lower() if variable.startswith(ENV_PREFIX) else ""
    return ENV_ALIASES.get(name, name) == field_name


class ConfigReader:
    """Reads the config anew (at start and at each reload): the file, the environment, the
    command line's options on top; `sources` says where each value came from at the latest
    read (load_config_with_sources), `file` which file that was (None: none)."""

    def __init__(self, config_file: Path | None, environ: Mapping[str, str],
                 overrides: Mapping[str, Any]) -> None:
        self._config_file = config_file
        self._environ = environ
        self._overrides = dict(overrides)
        self.sources: dict[str, str] = {}
        self.file: Path | None = config_file

    def __call__(self) -> DaemonConfig:
        self.file = self._config_file or paths.existing_config_file()
        config, self.sources = load_config_with_sources(self.file, self._environ,
                                                        self._overrides,
                                                        use_default_file=False)
        from antiphon.daemon.config.cc_map import fixed_meaning_warnings  # builds on this

        for warning in fixed_meaning_warnings(config):
            log.warning("%s", warning)
        return config
