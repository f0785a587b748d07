"""`antiphon bench engine`'s parts, on the shipped model (timings are reported, never
asserted: a slow machine must not fail a test)."""

from __future__ import annotations

import pytest

from antiphon.daemon.bench import engine as bench
from antiphon.engine.timing import Latency
from antiphon.exported_models import default_model_path


def test_latency_percentiles():
    latency = Latency.of([0.001] * 98 + [0.002, 0.010])
    assert latency.p50 == pytest.approx(1.0) and latency.max == pytest.approx(10.0)
    assert latency.count == 100


def test_sections_are_replaced_in_place():
    document = "# Benchmarks\n\nintro\n"
    document = bench.replace_section(document, "engine", ["first"])
    document = bench.replace_section(document, "loop", ["loop table"])
    document = bench.replace_section(document, "engine", ["second"])
    assert "first" not in document and "second" in document and "loop table" in document
    assert document.index("second") < document.index("loop table")  # order kept


def test_the_table_says_when_a_target_is_missed():
    fast = Latency(0.1, 0.2, 0.3, 100)
    slow = Latency(0.4, 0.9, 2.0, 100)
    speed = bench.GenerationSpeed(64, 200, 300, 0.1, 320.0)
    torch = Latency(5.0, 8.0, 9.0, 100)
    crawl = bench.GenerationSpeed(64, 200, 300, 10.0, 32.0)
    table = bench.engine_table([bench.EngineRow("default", "lstm", fast, torch, speed),
                                bench.EngineRow("default", "lstm", slow, torch, speed),
                                bench.EngineRow("c", "lstm", fast, None, speed),
                                bench.EngineRow("nade", "rnn-nade", slow, torch, speed),
                                bench.EngineRow("nade", "rnn-nade", fast, torch, crawl)])
    assert "| meets" in table[2] and "40x" in table[2]
    assert "**misses**" in table[3]  # the default model's p99 0.9 ms > 0.5 ms
    assert "| – |" in table[4]  # no torch: the column is empty, not guessed
    assert all(" | – | " in row for row in table[2:])  # no GPU given: no CUDA figure
    # Other models have no step target (a frame is 88 keys, not one event), only the
    # answers' speed: 100x real time.
    assert "| meets (>= 100x real time) |" in table[5]
    assert "**misses** (>= 100x real time)" in table[6]


def test_measurements_run_on_the_shipped_model():
    path = default_model_path()
    latency = bench.onnx_step_latency(path, 50)
    assert latency.count == 50 and 0 < latency.p50 <= latency.p99 <= latency.max
    speed = bench.generation_speed(path, beats=8)
    assert speed.tokens > 0 and speed.seconds > 0 and speed.realtime_factor > 0


def test_the_torch_speed_up_is_a_target_of_the_default_model_only():
    speed = bench.GenerationSpeed(64, 200, 300, 0.1, 320.0)
    onnx, torch = Latency(0.5, 0.9, 1.2, 100), Latency(1.3, 1.6, 1.8, 100)  # under 2x
    transformer, default = bench.engine_table([
        bench.EngineRow("transformer512", "transformer", onnx, torch, speed),
        bench.EngineRow("default", "lstm", Latency(0.1, 0.2, 0.3, 100),
                        Latency(0.5, 1.0, 1.1, 100), speed),  # 5x
    ])[2:]
    assert "| meets (p99 <= 2 ms, >= 100x real time)" in transformer
    assert "**misses** (p99 <= 0.5 ms, >= 10x torch" in default


def test_best_of_n_is_timed_through_the_code_that_plays():
    from antiphon.daemon.bench.best_of import COUNTS, best_of_lines, best_of_rows

    rows = best_of_rows(default_model_path(), repeats=2, steps=5)
    assert [row.candidates for row in rows] == list(COUNTS)
    assert all(row.draw.count == 2 and row.draw.p50 > 0 for row in rows)
    assert all(row.step is not None for row in rows)  # the default model has batch axes
    table = best_of_lines("default", rows, critic=True)
    assert sum(line.startswith(f"| {n} |") for n in COUNTS for line in table) == len(COUNTS)


def test_a_draw_over_one_beat_is_marked():
    from antiphon.daemon.bench.best_of import BestOfRow, best_of_lines

    slow = BestOfRow(8, Latency(400.0, 650.0, 700.0, 10), Latency(1.0, 1.2, 1.3, 10))
    fast = BestOfRow(1, Latency(20.0, 30.0, 35.0, 10), Latency(0.5, 0.6, 0.7, 10))
    lines = best_of_lines("default", [fast, slow], critic=False)
    assert "| 1 | 20.0 / 30.0 / 35.0 | yes |" in lines[-2]
    assert "**no**" in lines[-1] and "| 0.25 |" in lines[-1]  # 1.0 ms / (8 x 0.5 ms)
    assert "metrics only" in lines[0]
