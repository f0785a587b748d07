"""Fixtures of the training tests. This folder is on sys.path (pytest puts a conftest's
folder there), so every room's tests import `training_fixtures` from it."""

from __future__ import annotations

import pytest
from training_fixtures import write_tune


@pytest.fixture
def tunes(tmp_path):
    """A folder of 60 distinct short MIDI tunes, a duplicate and an unreadable file."""
    folder = tmp_path / "tunes"
    folder.mkdir()
    for index in range(60):
        write_tune(folder / f"tune{index:03d}.mid", 55 + index % 12, bars=2 + index // 12)
    (folder / "copy.mid").write_bytes((folder / "tune000.mid").read_bytes())  # a duplicate
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    return folder
