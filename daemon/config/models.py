"""Finding a model for `--model NAME`: the user's own models first (`paths.user_models_dir()`,
where `antiphon export --name NAME` writes), then the models shipped with Antiphon.

A user's model named like a shipped one hides it: exporting under that name was a choice,
and the shipped model stays reachable by its file path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from antiphon import exported_models
from antiphon.daemon.config import paths
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig

MODEL_SUFFIX = ".onnx"


@dataclass(frozen=True)
class ModelFile:
    name: str  # what --model takes
    path: Path
    shipped: bool  # False: the user's own, in paths.user_models_dir()


def user_models() -> list[ModelFile]:
    """The user's models, by name (none when the folder does not exist yet)."""
    folder = paths.user_models_dir()
    found = sorted(folder.glob(f"*{MODEL_SUFFIX}")) if folder.is_dir() else []
    return [ModelFile(path.stem, path, shipped=False) for path in found if path.is_file()]


def shipped_models() -> list[ModelFile]:
    return [ModelFile(name, exported_models.MODELS_DIR / f"{name}{MODEL_SUFFIX}", shipped=True)
            for name in exported_models.available_models()]


def all_models() -> list[ModelFile]:
    """Every model `--model NAME` can name, the user's first: for a name in both lists
    the first entry is the one used."""
    return user_models() + shipped_models()


def find_model(name: str) -> Path:
    """The file of `name`: a path to an .onnx file, else the user's model of that name, else
    the shipped one. Raises FileNotFoundError listing both kinds when there is none."""
    candidate = Path(name).expanduser()
    if candidate.suffix == MODEL_SUFFIX and candidate.is_file():
        return candidate
    if candidate.suffix == MODEL_SUFFIX and candidate.exists():  # never opened: a FIFO hangs
        kind = "a folder" if candidate.is_dir() else "no regular file (a pipe or a device)"
        raise FileNotFoundError(f"{name!r} is {kind}, not a model file")
    for model in all_models():
        if model.name == name:
            return model.path
    mine = ", ".join(model.name for model in user_models()) or "none"
    shipped = ", ".join(exported_models.available_models()) or "none"
    # A relative path is the daemon's working folder's (a service's is often /), not the
    # config file's: said, so the fix (an absolute path) is plain.
    where = (f" (a relative path, looked for in the working folder {Path.cwd()}: give an "
             "absolute one)" if candidate.suffix == MODEL_SUFFIX
             and not candidate.is_absolute() else "")
    raise FileNotFoundError(
        f"no model {name!r}{where}: not an {MODEL_SUFFIX} file, not one of your models in "
        f"{paths.user_models_dir()} ({mine}), nor a shipped model ({shipped})"
    )


def default_model() -> Path:
    """The model used when none is named: the shipped default."""
    return exported_models.default_model_path()


# Files that passed check_program_models, with the (mtime, size) they had: a reload or a
# `set` that names them again does not load them again unless they changed on disk.
_checked: dict[Path, tuple[int, int]] = {}
_checked_lock = threading.Lock()


def check_program_models(config: DaemonConfig) -> None:
    """Each model of `program_models` found and loadable, as `--model` is at start: the file
    read by onnxruntime, its card checked, one trial step run (on the CPU, then dropped).
    Raises ConfigError naming program_models and the program at fault, so a missing or
    broken model is said at start, at a reload or at the `set`, not when a program change
    on stage asks for it."""
    from antiphon.engine.model import StepModel  # onnxruntime: only when there is a list

    for program, name in enumerate(config.program_list(), start=1):
        try:
            path = find_model(name).resolve()
            stat = path.stat()
            with _checked_lock:
                if _checked.get(path) == (stat.st_mtime_ns, stat.st_size):
                    continue
            StepModel(path, device="cpu")
        except (OSError, ValueError) as err:  # ModelLoadError is a ValueError
            raise ConfigError("program_models", f"program {program} ({name!r}) cannot "
                              f"play: {err}") from None
        with _checked_lock:
            _checked[path] = (stat.st_mtime_ns, stat.st_size)
