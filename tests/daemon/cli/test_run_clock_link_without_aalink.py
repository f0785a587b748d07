"""`antiphon run --clock link` where the link extra is not installed: one clear line and a
failing status, before the model loads or a port opens; never a traceback."""

from __future__ import annotations

import os
import sys

from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.daemon.play.link_clock import LINK_MISSING


def test_says_how_to_install_aalink(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "aalink", None)  # `import aalink` raises ImportError
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    for variable in [name for name in os.environ if name.startswith("ANTIPHON_")]:
        monkeypatch.delenv(variable)
    result = CliRunner().invoke(app, ["run", "--clock", "link", "--control-socket",
                                      str(tmp_path / "control.sock")])
    assert result.exit_code == 1, result.output
    assert LINK_MISSING in " ".join(result.output.split())
    assert isinstance(result.exception, SystemExit)  # the command's own exit, no crash
    assert "Traceback" not in result.output
