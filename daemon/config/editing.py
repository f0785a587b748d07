"""Setting one option in a TOML config file the user keeps, without touching the rest:
their comments, their order, their other options (`antiphon learn` writes the CC map so).

Only the option's own line changes: an active `key = ...` line is replaced; else the line
goes right below the commented example `antiphon config init` wrote (`# key = ...`), else
at the end. The result is parsed again before it replaces the file (atomically): if it
does not read back as the old options plus the new value, nothing is written and the error
gives the line to add by hand.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from antiphon.daemon.config.daemon_config import ConfigError
from antiphon.daemon.config.toml_file import toml_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, as a package, where the standard library lacks it
    import tomli as tomllib


def write_option(path: Path, name: str, value: Any) -> None:
    """Set top-level option `name` to `value` in the TOML file at `path` (made, with its
    folder, when missing). Raises ConfigError (a file that is no TOML, or one this edit
    cannot change safely) or OSError."""
    try:  # bytes: the file's own line ends (CRLF from a Windows editor) are kept as they are
        text = path.read_bytes().decode("utf-8") if path.exists() else ""
    except UnicodeDecodeError as err:
        raise ConfigError(None, f"config file {path}: not UTF-8 text; save it as UTF-8"
                          ) from err
    bom = "\ufeff" if text.startswith("\ufeff") else ""  # kept, as the rest of the file
    text = text.removeprefix(bom)
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(None, f"config file {path}: not valid TOML ({err})") from err
    line = f"{name} = {toml_value(value)}"
    key = name.replace("_", "[_-]")  # cc_map or cc-map, as the file spells it
    active = re.compile(rf"^[ \t]*{key}[ \t]*=[^\r\n]*", re.MULTILINE).search(text)
    example = re.compile(rf"^#[ \t]*{key}[ \t]*=[^\r\n]*", re.MULTILINE).search(text)
    if active:
        text = text[:active.start()] + line + text[active.end():]
    elif example:
        text = text[:example.end()] + newline + line + text[example.end():]
    else:
        text += (newline if text and not text.endswith("\n") else "") + line + newline
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        after = None
    expected = _by_field(before) | {name: value}
    if after is None or len(after) != len(expected) or _by_field(after) != expected:
        raise ConfigError(None, f"config file {path}: cannot set {name} in it safely; add "
                          f"this line yourself: {line}")
    _replace(path.resolve(), bom + text)  # through a symlink: the file it points to


def _by_field(options: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("-", "_"): value for key, value in options.items()}


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, keeping the file's permissions."""
    if path.exists() and not os.access(path, os.W_OK):  # a replace would go round it
        raise PermissionError(f"{path} is not writable")
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
