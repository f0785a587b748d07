"""Every package folder of the source is a package of the installed distribution: a folder
missing from pyproject.toml's list works in an editable install and is missing from a wheel."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"daemon": "antiphon.daemon", "engine": "antiphon.engine",
           "training": "antiphon.training", "exported_models": "antiphon.exported_models"}


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    found = {"antiphon"}
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            if parts[:2] == ("cli", "entry"):
                continue  # the top-level `antiphon` package itself (package-dir)
            found.add(".".join((package, *parts)))
    assert found == listed
