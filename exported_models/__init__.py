"""The shipped models: `.onnx` step graphs with their model cards inside.

This package imports nothing; it only knows where its files are.
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "default"
# The critic that picks the best of N answers (engine/critic.py): shipped here beside the
# models, but it plays nothing, so it is not one of them.
CRITIC = "critic"


def available_models() -> list[str]:
    """Names of the shipped models (file names without `.onnx`)."""
    return sorted(path.stem for path in MODELS_DIR.glob("*.onnx") if path.stem != CRITIC)


def model_path(name: str) -> Path:
    """The file of a shipped model, or of `name` itself when it is a path to a file.

    Raises FileNotFoundError listing the shipped models when neither exists.
    """
    candidate = Path(name).expanduser()
    if candidate.suffix == ".onnx" and candidate.is_file():
        return candidate
    shipped = MODELS_DIR / f"{name}.onnx"
    if shipped.is_file() and name != CRITIC:
        return shipped
    raise FileNotFoundError(
        f"no model {name!r}: not a file, and not one of the shipped models "
        f"({', '.join(available_models()) or 'none'})"
    )


def default_model_path() -> Path:
    return model_path(DEFAULT_MODEL)


def critic_path() -> Path:
    """The shipped critic's file (it may be missing: answers are then judged without it)."""
    return MODELS_DIR / f"{CRITIC}.onnx"
