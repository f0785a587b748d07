"""Where Antiphon keeps its files, at the places the platform's users look for them
(platformdirs: the XDG base directories on Linux, honouring `XDG_CONFIG_HOME` and friends).

- the config file: `~/.config/antiphon/antiphon.toml`, used when `--config` is not given;
- the user's models: `~/.local/share/antiphon/models`, where `antiphon export --name NAME`
  writes and where `--model NAME` looks before the shipped models;
- the corpus cache: `~/.cache/antiphon` (`ANTIPHON_CACHE` overrides it);
- the control socket: `$XDG_RUNTIME_DIR/antiphon/control.sock`, a folder only the user
  can enter (`/run/user/UID` under systemd).

Each is computed when asked, from the environment of that moment, so a test (or a user)
that points `XDG_*` elsewhere is followed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import platformdirs

APP_NAME = "antiphon"
CONFIG_FILE_NAME = "antiphon.toml"
CONTROL_SOCKET_NAME = "control.sock"


def config_file() -> Path:
    """The config file read when `--config` is not given (it may not exist)."""
    return platformdirs.user_config_path(APP_NAME) / CONFIG_FILE_NAME


def existing_config_file() -> Path | None:
    """The config file when something is there, else None: no file means the defaults.
    Anything at that path counts (a folder, an unreadable file), so that reading it fails
    with its path rather than the daemon quietly ignoring the user's configuration."""
    path = config_file()
    return path if path.exists() or path.is_symlink() else None


def user_models_dir() -> Path:
    """The user's own models (`antiphon export --name NAME` writes `NAME.onnx` here)."""
    return platformdirs.user_data_path(APP_NAME) / "models"


def cache_dir() -> Path:
    """Converted corpora: `$ANTIPHON_CACHE`, else the platform's cache folder."""
    configured = os.environ.get("ANTIPHON_CACHE")
    return Path(configured) if configured else platformdirs.user_cache_path(APP_NAME)


def runtime_dir() -> Path:
    """The per-user folder for the control socket. Without `XDG_RUNTIME_DIR` (a login that
    set none), platformdirs falls back to a folder of its own under /tmp; its warning says
    nothing a musician can act on, so it is kept quiet here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return platformdirs.user_runtime_path(APP_NAME)


def control_socket() -> Path:
    """The default control socket of a running daemon."""
    return runtime_dir() / CONTROL_SOCKET_NAME
