"""`antiphon bench engine` end to end: it measures the shipped model and updates its
section of the benchmarks file, leaving the rest of the file alone."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from antiphon.daemon.bench.roofline import read_bandwidth, weight_bytes
from antiphon.daemon.cli.app import app
from antiphon.exported_models import MODELS_DIR

FIGURE = r"(\d+\.\d+)"


@pytest.mark.jack  # its start-up row starts a JACK server and a daemon on it
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
    # The roofline: the default's float32 and int8 rows, every figure measured and positive.
    assert re.search(r"memory streams (\d+\.\d) GB/s", section).group(1) != "0.0"
    for precision in ("float32", "int8"):
        row = re.search(rf"\| {precision} \| {FIGURE} \| {FIGURE} / {FIGURE} \| {FIGURE} / "
                        rf"{FIGURE} \| {FIGURE}x, {FIGURE}x \| {FIGURE} / {FIGURE} \| "
                        rf"{FIGURE}x \|", section)
        assert row, section
        assert all(float(figure) > 0 for figure in row.groups())
    assert re.search(r"- step p99 \d+\.\d+ ms: (meets|\*\*misses\*\*) p99 <= 0.5 ms", section)
    assert "batch 8 costs" in section and "the memory floor" in section


@pytest.mark.jack  # the same start-up row
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


def test_the_roofline_counts_weights_and_measures_bandwidth():
    int8, float32 = weight_bytes(MODELS_DIR / "default.onnx"), weight_bytes(
        MODELS_DIR / "default-fp32.onnx")
    assert int8[1] == float32[1] == "initializers"
    assert 0 < int8[0] < float32[0] / 3  # int8 weights: about a quarter of the bytes
    assert read_bandwidth(2**20, runs=3) > 1e8  # any machine reads 1 MB faster than 100 MB/s


def test_the_roofline_pairs_each_precision_making_int8_where_it_is_missing(tmp_path):
    from antiphon.daemon.bench.roofline import precision_pair
    from antiphon.daemon.config.models import find_model
    from antiphon.engine.model import StepModel

    shipped, note = precision_pair("default", find_model("default"), find_model, tmp_path)
    assert shipped == {"float32": MODELS_DIR / "default-fp32.onnx",
                       "int8": MODELS_DIR / "default.onnx"} and note == ""
    made, note = precision_pair("default-fp32", find_model("default-fp32"), find_model,
                                tmp_path)
    assert made["int8"].parent == tmp_path and "made here" in note
    assert StepModel(made["int8"], device="cpu").card.precision == "int8"
    # int8 costs an RNN-NADE too much NLL: it is measured in float32 alone, and said so.
    refused, note = precision_pair("nade-nottingham", find_model("nade-nottingham"),
                                   find_model, tmp_path)
    assert list(refused) == ["float32"] and "int8 not measured" in note and "nats" in note
