"""Reading the daemon's configuration from its layers: defaults < TOML file < environment
(`ANTIPHON_*`) < command line. Each value is checked or converted for its field's type
here, then `DaemonConfig` checks it as a whole; a bad value raises ConfigError naming the
option and the layer it came from.
"""

from __future__ import annotations

import difflib
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from antiphon.daemon.config import paths
from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.config.option_names import (
    ENV_PREFIX,
    OTHER_VARIABLES,
    ConfigError,
    env_name,
    field_names,
    field_of_variable,
)
from antiphon.daemon.config.values import TomlFloat, coerce_value, exactly

__all__ = ["ConfigReader", "TomlFloat", "coerce_value", "load_config",
           "load_config_with_sources", "read_environment", "read_toml"]

log = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"  # what some Windows editors put first in a UTF-8 file
# Other encodings' byte-order marks (UTF-32 first: its little-endian mark begins with
# UTF-16's): said by name, as "not UTF-8 (byte 0xff)" would leave the user guessing.
OTHER_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
              (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


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
    for key, text in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = field_of_variable(key)
        if name is None:
            if key not in OTHER_VARIABLES:
                unknown = key[len(ENV_PREFIX):].lower()
                close = difflib.get_close_matches(unknown, sorted(field_names()), n=1)
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
        variable = [key for key in environ if field_of_variable(key) == name][-1]  # last wins
        values[name], sources[name] = value, f"environment {variable}"
    for name, value in (overrides or {}).items():
        if name not in sources:
            raise ConfigError(None, f"unknown option {name!r}")
        if isinstance(value, TomlFloat):  # a number's text kept: held to its limits exactly
            exactly(name, value.text, float(value), "from the command line")
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
