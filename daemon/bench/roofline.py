"""`antiphon bench engine`'s roofline: how close the default model's step is to the time its
weight bytes take to read, float32 and int8 side by side, one row and a batch of rows.

At batch 1 a recurrent step reads each weight once and does little arithmetic per byte,
so its floor is the weights' bytes over the memory bandwidth of the one core it runs on.
The bandwidth is measured here, with numpy on the core the process is pinned to, two
ways: streaming a buffer far over the last-level cache (memory, as the issue's floor is
defined), and reading a buffer as big as the model's weights again and again (where the
weights fit in the cache, as they do between steps, this is the tighter floor). A batch
of N rows reads the weights once for all N (engine/model.py `step_batch`).

The int8 copy is the shipped default when it is one (its float32 source shipped beside it
as `NAME-fp32`), else made here into a temporary folder when the quantiser
(training/quantize.py, the `train` extra) is installed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.engine.model import StepModel
from antiphon.engine.timing import Latency, time_calls

STREAM_BYTES = 256 * 2**20  # far over any L3 here (32 MB on the 2-core VM)
BANDWIDTH_RUNS = 5
BATCH_ROWS = 8
FLOAT32_SUFFIX = "-fp32"  # the float32 source shipped beside an int8 model

TARGET_STEP_P99_MS = 0.5
TARGET_FLOOR_RATIO = 1.3
TARGET_TORCH_RATIO = 10.0
TARGET_BATCH_RATIO = 2.5


def read_bandwidth(size_bytes: int, runs: int = BANDWIDTH_RUNS) -> float:
    """Bytes per second one core reads a float64 buffer of `size_bytes` (numpy's max, a
    reduction that does less arithmetic per byte than a sum), the best of `runs`."""
    buffer = np.ones(max(1, size_bytes // 8))
    buffer.max()  # pages touched before timing
    best = float("inf")
    for _ in range(max(runs, 3 if size_bytes >= STREAM_BYTES else 20)):
        began = time.perf_counter()
        buffer.max()
        best = min(best, time.perf_counter() - began)
    return buffer.nbytes / best


def weight_bytes(path: Path) -> tuple[int, str]:
    """The bytes of the graph's initializers (its weights), and how they were counted: with
    onnx when it is installed (the `train` extra), else the file's size (an upper bound)."""
    try:
        import onnx
    except ImportError:
        return path.stat().st_size, "file size (onnx not installed)"
    proto = onnx.load(str(path), load_external_data=False)
    total = sum(onnx.numpy_helper.to_array(tensor).nbytes for tensor in proto.graph.initializer)
    return total, "initializers"


def step_latency(model: StepModel, rows: int, steps: int) -> Latency:
    """A step of `rows` rows, each fed back its own sample: `step` for one row, as a single
    answer plays, `step_batch` for more, as best of N samples its candidates."""
    vocab = model.card.vocab_size
    rng = np.random.default_rng(0)
    uniform = rng.random((rows, vocab), dtype=np.float32)
    if rows == 1:
        bias = np.zeros(vocab, dtype=np.float32)
        carried = {"token": 0, "state": model.initial_state()}

        def step() -> None:
            carried["token"], _, carried["state"] = model.step(
                carried["token"], carried["state"], 1.0, uniform, bias)

        return time_calls(step, steps)
    bias = np.zeros((rows, vocab), dtype=np.float32)
    batch = {"tokens": np.zeros(rows, dtype=np.int64),
             "state": model.batch_state(model.initial_state(), rows)}

    def batch_step() -> None:
        batch["tokens"], _, batch["state"] = model.step_batch(
            batch["tokens"], batch["state"], 1.0, uniform, bias)

    return time_calls(batch_step, steps)


@dataclass(frozen=True)
class RooflineRow:
    precision: str
    weight_bytes: int
    single: Latency
    batch: Latency | None  # None: the graph steps one row at a time
    cache_bandwidth: float  # bytes/s, a buffer the size of the weights read again and again


@dataclass(frozen=True)
class Roofline:
    model: str
    rows: list[RooflineRow]
    stream_bandwidth: float  # bytes/s, a buffer far over the cache
    counted: str  # how the weight bytes were counted
    note: str  # why a precision is missing, or ""


def precision_pair(name: str, path: Path, find: Callable[[str], Path],
                   folder: Path) -> tuple[dict[str, Path], str]:
    """The float32 and int8 files of model `name` ({precision: path}) and, where one is
    missing, why."""
    precision = StepModel(path, device="cpu").card.precision
    if precision == "int8":
        try:
            return {"float32": find(name + FLOAT32_SUFFIX), "int8": path}, ""
        except FileNotFoundError:
            return {"int8": path}, f"no float32 copy ({name}{FLOAT32_SUFFIX}) to set beside it"
    try:
        from antiphon.training.quantize import QuantiseError, quantise_step_graph
    except ImportError as err:
        return {"float32": path}, f"int8 not measured: the quantiser needs the train extra ({err})"
    made = folder / f"{name}-int8.onnx"
    try:
        quantise_step_graph(path, made)
    except (QuantiseError, ValueError, OSError) as err:
        return {"float32": path}, f"int8 not measured ({err})"
    return {"float32": path, "int8": made}, f"int8 made here from {path.name}"


def measure_roofline(name: str, path: Path, find: Callable[[str], Path],
                     steps: int) -> Roofline:
    """Time model `name` at both precisions, batch 1 and BATCH_ROWS, and the bandwidths."""
    with tempfile.TemporaryDirectory(prefix="aph-roofline-") as folder:
        files, note = precision_pair(name, path, find, Path(folder))
        rows = []
        for precision, file in files.items():
            model = StepModel(file, device="cpu", threads=1)
            weights = weight_bytes(file)[0]
            rows.append(RooflineRow(
                precision, weights, step_latency(model, 1, steps),
                step_latency(model, BATCH_ROWS, max(100, steps // 4))
                if model.batch_axes is not None else None, read_bandwidth(weights)))
        counted = weight_bytes(path)[1]
    return Roofline(name, rows, read_bandwidth(STREAM_BYTES), counted, note)


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def roofline_lines(roofline: Roofline, torch_p99_ms: float | None,
                   with_targets: bool = True) -> list[str]:
    """The roofline table and, `with_targets` (the default model's: they are set for it),
    the targets for its int8 row, said plainly."""
    stream = roofline.stream_bandwidth
    lines = [
        f"**Roofline of `{roofline.model}`** (one core): memory streams "
        f"{stream / 1e9:.1f} GB/s (numpy, the best of {BANDWIDTH_RUNS} reads of a "
        f"{STREAM_BYTES >> 20} MB buffer); a buffer the size of the weights, read again and "
        "again as the steps read them, comes from the cache at the speed in the cache "
        f"column. Weight bytes: the graph's {roofline.counted}. Batch {BATCH_ROWS}: "
        f"{BATCH_ROWS} rows stepped at once (`step_batch`).",
        "",
        "| precision | weights (MB) | floor: memory / cache (ms) | batch 1 p50 / p99 (ms) "
        f"| p99 / floor: memory, cache | batch {BATCH_ROWS} p50 / p99 (ms) "
        f"| batch {BATCH_ROWS} / batch 1 (p99) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in roofline.rows:
        floor_ms = row.weight_bytes / stream * 1e3
        cache_ms = row.weight_bytes / row.cache_bandwidth * 1e3
        batch = row.batch
        batch_cell = f"{batch.p50:.3f} / {batch.p99:.3f}" if batch else "– (one row at a time)"
        ratio_cell = f"{batch.p99 / row.single.p99:.2f}x" if batch else "–"
        lines.append(
            f"| {row.precision} | {row.weight_bytes / 1e6:.2f} | {floor_ms:.3f} / "
            f"{cache_ms:.3f} | {row.single.p50:.3f} / {row.single.p99:.3f} | "
            f"{row.single.p99 / floor_ms:.2f}x, {row.single.p99 / cache_ms:.2f}x | "
            f"{batch_cell} | {ratio_cell} |")
    if roofline.note:
        lines += ["", f"({roofline.note}.)"]
    return [*lines, "", *target_lines(roofline, torch_p99_ms)] if with_targets else lines


def target_lines(roofline: Roofline, torch_p99_ms: float | None) -> list[str]:
    """The issue's "done when" for the int8 row (else the float32 one), in words."""
    row = next((row for row in roofline.rows if row.precision == "int8"), roofline.rows[0])
    p99 = row.single.p99
    floor_ms = row.weight_bytes / roofline.stream_bandwidth * 1e3
    cache_ms = row.weight_bytes / row.cache_bandwidth * 1e3
    said = [
        f"- step p99 {p99:.3f} ms: {verdict(p99 <= TARGET_STEP_P99_MS)} "
        f"p99 <= {TARGET_STEP_P99_MS:g} ms;",
        f"- {p99 / floor_ms:.2f}x the memory floor: {verdict(p99 <= TARGET_FLOOR_RATIO * floor_ms)}"
        f" within {TARGET_FLOOR_RATIO:g}x (against the cache floor, {p99 / cache_ms:.2f}x: "
        f"{verdict(p99 <= TARGET_FLOOR_RATIO * cache_ms)} it);",
    ]
    if torch_p99_ms is None:
        said.append("- torch eager: not measured (torch is not installed);")
    else:
        ratio = torch_p99_ms / p99
        said.append(f"- {ratio:.0f}x torch eager (p99): {verdict(ratio >= TARGET_TORCH_RATIO)} "
                    f">= {TARGET_TORCH_RATIO:g}x;")
    if row.batch is None:
        said.append("- batch: this graph steps one row at a time.")
    else:
        ratio = row.batch.p99 / p99
        said.append(f"- batch {BATCH_ROWS} costs {ratio:.2f}x batch 1 (p99): "
                    f"{verdict(ratio <= TARGET_BATCH_RATIO)} <= {TARGET_BATCH_RATIO:g}x.")
    return [f"Targets for `{roofline.model}` at {row.precision}:", "", *said]
