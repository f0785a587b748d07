"""`antiphon bench engine`: how fast the engine steps, generates and starts, on one core,
and how near the default's step is to the floor its weight bytes imply (roofline.py).

Every figure here is measured through the code that plays: `StepModel.step` for a step,
`Session.generate` for an answer, and the `antiphon` console script for start-up. The
torch eager comparison comes from `antiphon.training.evaluation.bench_torch`, imported only
when torch is installed, so this module stays torch-free.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from antiphon.daemon.bench.roofline import measure_roofline, roofline_lines
from antiphon.daemon.control.controller import resident_kb
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.frame_session import FrameSession
from antiphon.engine.model import StepModel, cuda_usable
from antiphon.engine.session import open_session
from antiphon.engine.timing import STEP_WARMUP, Latency, time_calls
from antiphon.exported_models import DEFAULT_MODEL

READY_LINE = "ready: listening"


def pin_to_one_core() -> int | None:
    """Run this process on one CPU core (Linux); returns the core, or None elsewhere."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def onnx_step_latency(model_path: Path, steps: int, device: str = "cpu") -> Latency:
    """One token step of the exported graph, its own samples fed back, as `generate` does
    (on CUDA through IO binding, the state staying on the GPU)."""
    model = StepModel(model_path, device=device, threads=1)
    vocab = model.card.vocab_size
    rng = np.random.default_rng(0)
    uniform = rng.random((1, vocab), dtype=np.float32)
    bias = np.zeros(vocab, dtype=np.float32)
    if model.card.representation == "pianoroll":  # a frame step: the drawn frame fed back
        carried = {"frame": np.zeros((1, vocab), np.float32), "state": model.initial_state()}

        def step() -> None:
            carried["frame"], _, carried["state"] = model.step_frame(
                carried["frame"], carried["state"], 1.0, uniform, bias)

        return time_calls(step, steps)
    carried = {"token": 0, "state": model.initial_state()}

    def step() -> None:
        carried["token"], _, carried["state"] = model.step(
            carried["token"], carried["state"], 1.0, uniform, bias)

    return time_calls(step, steps)


@dataclass(frozen=True)
class GenerationSpeed:
    beats: int  # answer length
    events: int  # note events in the answer
    tokens: int  # model steps taken (tokens, or frames for a piano-roll model)
    seconds: float  # wall time to generate it
    realtime_factor: float  # answer duration at `bpm` / generation time


def generation_speed(model_path: Path, beats: int = 64, bpm: float = 120.0,
                     seed: int = 0) -> GenerationSpeed:
    """Time one long answer after a short call, the way the daemon asks for one."""
    session = open_session(model_path, device="cpu", seed=seed)
    call = [NoteEvent(tick, pitch, velocity)
            for tick, pitch, velocity in ((0, 60, 90), (12, 60, 0), (12, 64, 90), (24, 64, 0),
                                          (24, 67, 90), (48, 67, 0))]
    session.observe(call)
    steps_taken = (lambda: session.frames_seen) if isinstance(session, FrameSession) else (
        lambda: session.tokens_seen)
    before = steps_taken()
    began = time.perf_counter()
    answer = list(session.generate(72, beats * TICKS_PER_BEAT))
    seconds = time.perf_counter() - began
    return GenerationSpeed(beats, len(answer), steps_taken() - before, seconds,
                           beats * 60.0 / bpm / seconds)


def startup_to_listening(command: list[str], env: dict[str, str],
                         timeout: float = 60.0) -> tuple[float, int]:
    """Seconds from spawning `antiphon run` to its ready line, and its resident memory
    (kB) at that moment. Needs a MIDI system the command can open ports on."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env={**env, "COLUMNS": "200"}, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline = began + timeout
        assert process.stdout is not None
        for line in process.stdout:
            if READY_LINE in line:
                return time.perf_counter() - began, resident_kb(process.pid)
            if time.perf_counter() > deadline:
                break
        raise RuntimeError(f"`{' '.join(command)}` did not get ready within {timeout:.0f} s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def antiphon_script() -> list[str]:
    script = Path(sys.executable).with_name("antiphon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "antiphon.daemon"]


# -- the report ---------------------------------------------------------------------------
TARGET_STEP_P99_MS = 0.5  # default model, one core (issue 4)
TARGET_TORCH_RATIO = 10.0  # onnxruntime at least this much faster than torch eager
TARGET_TRANSFORMER_P99_MS = 2.0
TARGET_REALTIME_FACTOR = 100.0
TARGET_START_SECONDS = 1.5
TARGET_RESIDENT_MB = 250.0


@dataclass(frozen=True)
class EngineRow:
    model: str
    family: str
    onnx: Latency
    torch: Latency | None  # None where torch is not installed
    generation: GenerationSpeed
    cuda: Latency | None = None  # None where there is no usable GPU


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def engine_table(rows: list[EngineRow]) -> list[str]:
    lines = [
        "| model | family | onnxruntime CPU step p50 / p99 / max (ms) | torch eager p50 / p99 "
        "/ max (ms) | p99 speed-up | answer: events/s, x real time | onnxruntime CUDA step "
        "p50 / p99 / max (ms) | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        onnx, torch = row.onnx, row.torch
        # Issue 4's step targets: the default model (and its speed-up over torch) and a
        # Transformer; every model's answers must come >= 100x faster than real time.
        limit = (TARGET_STEP_P99_MS if row.model == DEFAULT_MODEL else
                 TARGET_TRANSFORMER_P99_MS if row.family == "transformer" else None)
        ratio = torch.p99 / onnx.p99 if torch else None
        needs_ratio = row.model == DEFAULT_MODEL and ratio is not None
        ok = (limit is None or onnx.p99 <= limit) and (
            not needs_ratio or ratio >= TARGET_TORCH_RATIO)
        ok = ok and row.generation.realtime_factor >= TARGET_REALTIME_FACTOR
        targets = [f"p99 <= {limit:g} ms"] if limit is not None else []
        targets += [f">= {TARGET_TORCH_RATIO:g}x torch"] if row.model == DEFAULT_MODEL else []
        targets += [f">= {TARGET_REALTIME_FACTOR:g}x real time"]
        torch_cell = f"{torch.p50:.3f} / {torch.p99:.3f} / {torch.max:.3f}" if torch else "–"
        ratio_cell = f"{ratio:.0f}x" if ratio else "–"
        gen = row.generation
        cuda = row.cuda
        cuda_cell = f"{cuda.p50:.3f} / {cuda.p99:.3f} / {cuda.max:.3f}" if cuda else "–"
        lines.append(
            f"| {row.model} | {row.family} | {onnx.p50:.3f} / {onnx.p99:.3f} / {onnx.max:.3f} "
            f"| {torch_cell} | {ratio_cell} | {gen.events / gen.seconds:,.0f}, "
            f"{gen.realtime_factor:.0f}x | {cuda_cell} | {verdict(ok)} "
            f"({', '.join(targets)}) |"
        )
    return lines


def startup_lines(seconds: float | None, resident_kb_at_ready: int | None, why: str) -> list[str]:
    if seconds is None or resident_kb_at_ready is None:
        return [f"Start-up to listening: not measured ({why})."]
    mb = resident_kb_at_ready / 1024
    return [
        f"Start-up to listening (`antiphon run`, process spawn to its ready line): "
        f"{seconds:.2f} s, {verdict(seconds <= TARGET_START_SECONDS)} the "
        f"{TARGET_START_SECONDS:g} s target. Resident memory at that moment: {mb:.0f} MB, "
        f"{verdict(mb <= TARGET_RESIDENT_MB)} the {TARGET_RESIDENT_MB:g} MB target "
        "(flatness over a long run is the `loop` benchmark's to show).",
    ]


def replace_section(document: str, name: str, body: list[str], kind: str = "bench") -> str:
    """Put `body` between the `<!-- KIND:NAME -->` markers, adding them if missing."""
    start, end = f"<!-- {kind}:{name} -->", f"<!-- /{kind}:{name} -->"
    block = "\n".join([start, *body, end])
    if start in document and end in document:
        before, rest = document.split(start, 1)
        _, after = rest.split(end, 1)
        return before + block + after
    return document.rstrip("\n") + "\n\n" + block + "\n"


def run_engine_bench(model_names: list[str], steps: int, command: str) -> list[str]:
    """Measure every model and start-up; returns the markdown section (under `command`)."""
    from antiphon.daemon.config.models import find_model

    core = pin_to_one_core()
    try:
        from antiphon.training.evaluation.bench_torch import torch_step_latency
    except ImportError:  # the runtime install has no torch: the column stays empty
        torch_step_latency = None
    gpu = cuda_usable()
    rows = []
    for name in model_names:
        path = find_model(name)  # the user's models too
        card = StepModel(path, device="cpu").card
        rows.append(EngineRow(
            name, card.family, onnx_step_latency(path, steps),
            torch_step_latency(path, max(200, steps // 5)) if torch_step_latency else None,
            generation_speed(path),
            onnx_step_latency(path, steps, device="cuda") if gpu else None,
        ))
    # The roofline of the default (else of the first model measured), beside its torch row.
    measured = next((row for row in rows if row.model == DEFAULT_MODEL), rows[0])
    roofline = measure_roofline(measured.model, find_model(measured.model), find_model, steps)
    from antiphon.daemon.bench.best_of import best_of_lines, best_of_rows
    from antiphon.daemon.play.answering import shipped_critic

    default_path = find_model(DEFAULT_MODEL)
    best_of = best_of_lines(DEFAULT_MODEL, best_of_rows(default_path),
                            shipped_critic() is not None)
    try:
        from antiphon.daemon.midi.jack_server import private_jack_server  # needs python-rtmidi

        with private_jack_server("antiphon-bench") as env, \
                tempfile.TemporaryDirectory(prefix="aph-engine-") as folder:
            # Its own control socket: a user's daemon may be running.
            started, resident = startup_to_listening(
                [*antiphon_script(), "run", "--backend", "jack", "--no-record",
                 "--control-socket", str(Path(folder) / "control.sock")], env)
        why = ""
    except (OSError, ImportError) as err:
        started, resident, why = None, None, str(err)
    return [
        f"`{command}`",
        "",
        f"One CPU core (core {core}), {steps} timed steps per model after {STEP_WARMUP} "
        f"warm-up steps, garbage collector off while timing; onnxruntime "
        f"{onnxruntime.__version__}, one intra-op thread. The torch eager column runs the "
        "same step graph (sampling included) with fresh weights of the card's configuration. "
        "Answers: a 64-beat answer at 120 BPM after a short call. "
        + ("CUDA: onnxruntime's CUDA provider with IO binding (state kept on the GPU)."
           if gpu else "CUDA: no usable GPU on this machine, so that column is empty rather "
           "than guessed."),
        "",
        *engine_table(rows),
        "",
        *roofline_lines(roofline, measured.torch.p99 if measured.torch else None,
                        with_targets=measured.model == DEFAULT_MODEL),
        "",
        *best_of,
        "",
        *startup_lines(started, resident, why),
    ]
