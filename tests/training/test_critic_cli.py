"""`antiphon eval critic` and `antiphon train-critic` end in one error line, never a
traceback, when given what they cannot use."""

from __future__ import annotations

from typer.testing import CliRunner

from antiphon.daemon.cli.app import app


def test_eval_of_a_missing_critic_is_one_error_line(tmp_path):
    result = CliRunner().invoke(app, ["eval", "critic", str(tmp_path / "absent.onnx")])
    assert result.exit_code == 1
    assert "no such file" in result.output and result.exception is not None
    assert "Traceback" not in result.output


def test_eval_of_a_file_that_is_no_critic_is_one_error_line(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    result = CliRunner().invoke(app, ["eval", "critic", str(junk)])
    assert result.exit_code == 1
    assert "cannot load model" in result.output


def test_train_with_a_limit_of_no_tunes_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["train-critic", "--out", str(tmp_path), "--limit", "0"])
    assert result.exit_code == 2
