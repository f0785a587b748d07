"""`antiphon bench engine` end to end: it measures the shipped model and updates its
section of the benchmarks file, leaving the rest of the file alone."""

from __future__ import annotations

from typer.testing import CliRunner

from antiphon.daemon.cli.app import app


def test_bench_engine_writes_its_section(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n<!-- bench:loop -->\nkept\n<!-- /bench:loop -->\n")
    result = CliRunner().invoke(app, ["bench", "engine", "--steps", "100", "--model", "default",
                                      "--output", str(output)])
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert "kept" in text  # another benchmark's section survives
    section = text.split("<!-- bench:engine -->")[1].split("<!-- /bench:engine -->")[0]
    assert f"`antiphon bench engine --steps 100 --model default --output {output}`" in section
    assert "| default | lstm |" in section
    assert "Start-up to listening" in section


def test_bench_without_output_prints_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a user stands, outside the repository
    result = CliRunner().invoke(app, ["bench", "engine", "--steps", "100", "--model", "default"])
    assert result.exit_code == 0, result.output
    assert "| default | lstm |" in result.output
    assert "`antiphon bench engine --steps 100 --model default`" in result.output
    assert list(tmp_path.iterdir()) == []


def test_unknown_benchmark_is_a_usage_error():
    result = CliRunner().invoke(app, ["bench", "everything"])
    assert result.exit_code == 2
