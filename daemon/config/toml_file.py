"""The commented config file `antiphon config init` writes, and the option descriptions in it.

The description of each option is the comment written above its field in the table of
options (config_fields.py), read from its source with `tokenize`: one text to keep true,
for the code and the file.
Every option appears commented out with its default (`# bpm = 120.0`), so the file loads
as the defaults and uncommenting any one line sets that option. An option whose default is
"none" (TOML has no null) shows an example value instead, with a comment saying so.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import math
import tempfile
import textwrap
import tokenize
import typing
from pathlib import Path
from typing import Any

from antiphon.daemon.config import paths
from antiphon.daemon.config.config_fields import ConfigFields
from antiphon.daemon.config.option_names import field_names
from antiphon.daemon.config.values import field_types

# For a new option missing from example_value(): a value of its type.
EXAMPLE_BY_TYPE: dict[type, Any] = {str: "example", int: 1, float: 1.0, bool: True}

HEADER = """\
# Antiphon's configuration: the options of `antiphon run`, as TOML.
#
# Every option is listed with its default, commented out: remove the "# " in front of
# a line to set that option. Keys are the long options without dashes (bpm is --bpm);
# an option can also be given as ANTIPHON_<OPTION> in the environment (ANTIPHON_BPM=90).
# The command line wins over the environment, the environment over this file.
# `antiphon config show` prints what is in effect and where each value came from.
"""


def field_comments(config_class: type = ConfigFields) -> dict[str, str]:
    """Each field's comment (the comment lines right above it, joined), by field name, for
    a dataclass defined in a source file; a field without one maps to ""."""
    source = textwrap.dedent(inspect.getsource(config_class))
    comments = {field.name: "" for field in dataclasses.fields(config_class)}
    pending: list[str] = []  # the comment lines right above the line being read
    line_start = True
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            if line_start:  # a comment after code on its line describes that line
                pending.append(token.string.lstrip("#").strip())
        elif token.type in (tokenize.NL, tokenize.NEWLINE):
            if not token.line.strip():
                pending = []  # a blank line parts a comment from what follows
            line_start = True
        elif token.type not in (tokenize.INDENT, tokenize.DEDENT):
            if line_start and token.type == tokenize.NAME and token.string in comments:
                comments[token.string] = " ".join(pending)
            if line_start:
                pending = []
            line_start = False
    return comments


def toml_value(value: Any) -> str:
    """`value` as a TOML literal (str, bool, int or float; None has none)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # A JSON string is a TOML basic string: the same quotes and escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # repr keeps the ".0": 120.0 stays a float in TOML
    raise TypeError(f"no TOML literal for {value!r}")


def example_value(field_name: str) -> Any:
    """A value to show for an option whose default is None (it passes the options' checks)."""
    examples: dict[str, Any] = {
        "in_port": "Keystation", "out_port": "FLUID Synth", "model": "default",
        "scale": "D dorian", "max_polyphony": 4, "seed": 0, "osc_port": 9000,
        "program_models": "default, transformer, nade-jsb", "panic_cc": 119, "panic_note": 21,
        "end_cc": 118, "end_note": 108, "knob_channel": "2",
        "cc_map": "temperature=21:0.5..1.5, top_p=22:0.5..1, scale=23:C major|D dorian|chromatic",
        "timing_trace": str(Path(tempfile.gettempdir()) / "antiphon-timing.jsonl"),
        # A second daemon needs a socket of its own, beside the first one's.
        "control_socket": str(paths.runtime_dir() / "antiphon-2.sock"),
    }
    if field_name in examples:
        return examples[field_name]
    hint = field_types()[field_name]
    kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)] or [hint]
    return EXAMPLE_BY_TYPE.get(kinds[0], "example")


def render_config_file(width: int = 88) -> str:
    """The whole commented file: a header, then each option's comment and default."""
    comments = field_comments()
    defaults = ConfigFields()
    parts = [HEADER]
    for name in field_names():
        parts.append("\n".join(f"# {line}" for line in textwrap.wrap(comments[name], width - 2)))
        value = getattr(defaults, name)
        if value is None:
            example = toml_value(example_value(name))
            parts.append(f"# {name} = {example}  # an example: unset by default\n")
        else:
            parts.append(f"# {name} = {toml_value(value)}\n")
    return "\n".join(parts)
