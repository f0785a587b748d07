"""Finding a model for `--model NAME`: the user's own models first (`paths.user_models_dir()`,
where `antiphon export --name NAME` writes), then the models shipped with Antiphon.

A user's model named like a shipped one hides it: exporting under that name was a choice,
and the shipped model stays reachable by its file path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from antiphon import exported_models
from antiphon.daemon.service import paths

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
    for model in all_models():
        if model.name == name:
            return model.path
    mine = ", ".join(model.name for model in user_models()) or "none"
    shipped = ", ".join(exported_models.available_models()) or "none"
    raise FileNotFoundError(
        f"no model {name!r}: not an {MODEL_SUFFIX} file, not one of your models in "
        f"{paths.user_models_dir()} ({mine}), nor a shipped model ({shipped})"
    )


def default_model() -> Path:
    """The model used when none is named: the shipped default."""
    return exported_models.default_model_path()
