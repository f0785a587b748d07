"""What each option is called where a user meets it, by rule from its field in
ConfigFields: field `bpm` is the flag `--bpm`, the TOML key `bpm` and the variable
`ANTIPHON_BPM`; a field whose metadata names its flags takes them instead (`in_port` is
`--in`, also `--in-port`), and its first flag names a variable too (`ANTIPHON_IN`, as
`ANTIPHON_IN_PORT`). A bad value raises ConfigError, which names the option all three ways.
"""

from __future__ import annotations

import dataclasses
import functools

from antiphon.daemon.config.config_fields import OPTION_METADATA, ConfigFields, OptionInfo

ENV_PREFIX = "ANTIPHON_"
OTHER_VARIABLES = frozenset({"ANTIPHON_CACHE"})  # read by the corpus import, not the daemon


class ConfigError(ValueError):
    """A bad option value; the message names the option (`field`, when one is at fault)."""

    def __init__(self, field: str | None, problem: str) -> None:
        message = f"{describe_option(field)}: {problem}" if field else problem
        super().__init__(message)
        self.field = field
        self.problem = problem


@functools.cache
def option_fields() -> tuple[dataclasses.Field, ...]:
    """The table's fields, in its order: the order every list of the options follows."""
    return dataclasses.fields(ConfigFields)


def field_names() -> list[str]:
    """Every option's field name (its TOML key), in the table's order."""
    return [field.name for field in option_fields()]


def option_info(field_name: str) -> OptionInfo:
    """How the command line shows the option (its field's metadata)."""
    return _infos()[field_name]


@functools.cache
def _infos() -> dict[str, OptionInfo]:
    return {field.name: field.metadata[OPTION_METADATA] for field in option_fields()}


def cli_flags(field_name: str) -> tuple[str, ...]:
    """The option's flags, the one messages name first: its metadata's, else
    --name-with-dashes."""
    return option_info(field_name).flags or ("--" + field_name.replace("_", "-"),)


def cli_flag(field_name: str) -> str:
    """The flag messages name the option by."""
    return cli_flags(field_name)[0]


def env_name(field_name: str) -> str:
    """The option's own variable: ANTIPHON_ and its field name in capitals."""
    return ENV_PREFIX + field_name.upper()


def env_names(field_name: str) -> tuple[str, ...]:
    """Every variable that sets the option: env_name, and the name of its first flag where
    that is not the field's (ANTIPHON_IN, as --in)."""
    own = env_name(field_name)
    as_flag = ENV_PREFIX + cli_flag(field_name).removeprefix("--").replace("-", "_").upper()
    return (own,) if as_flag == own else (own, as_flag)


def field_of_variable(variable: str) -> str | None:
    """The option an ANTIPHON_ variable sets (the part after the prefix read in any case),
    or None for no option."""
    if not variable.startswith(ENV_PREFIX):
        return None
    return _variables().get(variable[len(ENV_PREFIX):].lower())


@functools.cache
def _variables() -> dict[str, str]:
    """Field name by variable, the variable lower-case without its prefix."""
    return {variable[len(ENV_PREFIX):].lower(): name
            for name in field_names() for variable in env_names(name)}


def describe_option(field_name: str) -> str:
    """The option as an error message names it: flag, TOML key and variable."""
    return f"{cli_flag(field_name)} ({field_name} in TOML, {env_name(field_name)})"


# What a running daemon can change without a restart (`antiphon set`, `reload`, OSC). The
# rest (ports, MIDI system, device, seed, ...) is read once, at start; `model` is swapped.
LIVE_OPTIONS = tuple(name for name in field_names() if option_info(name).live)
