"""`antiphon bench`: measure, print the tables, and with `--output FILE` (the repository's
docs/BENCHMARKS.md) record each under the command that made it: `engine` (step latency,
generation, start-up), `loop` (end to end over JACK), `clock` (answers on a MIDI clock's
beats, and a Link session's when aalink is installed) and `train` (training throughput per
family)."""

import shlex
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail, setup_logging

BENCHMARKS = ("engine", "loop", "clock", "train")
HEADER = [
    "# Benchmarks",
    "",
    "Written by `antiphon bench`; each section sits under the command that made it and is",
    "replaced when that command runs again. Where a target is missed, the table says so.",
    "Measured on the machine that ran the command (say which when you publish it).",
    "",
]
LOOP_PERIOD_FRAMES = 32  # 0.67 ms at 48 kHz: the smallest the dummy backend keeps up with
CLOCK_OUT_SECONDS = 20.0  # clock: --clock-out measured this long at each of two tempos


def bench(
    benchmark: Annotated[str, typer.Argument(
        help="What to measure: engine, loop, clock or train.")] = "engine",
    model: Annotated[list[str] | None, typer.Option(
        help="Shipped model to measure (repeatable; loop: the first). \\[default: engine: "
             "every shipped model; loop: the default model]")] = None,
    steps: Annotated[int, typer.Option(help="engine: timed steps per model.", min=100)] = 5000,
    exchanges: Annotated[int, typer.Option(
        help="loop, clock: calls and answers per run.", min=1)] = 100,
    minutes: Annotated[float, typer.Option(
        help="loop: play the quiet run for at least this long, steering it through the "
             "control socket (the soak: settings and models changed, memory flat).",
        min=0)] = 0.0,
    faults: Annotated[bool, typer.Option(
        "--faults", help="loop: instead of the timing runs, the fault run (floods, port "
        "churn, a JACK restart between exchanges; answers missed, time to recover).",
    )] = False,
    recorder: Annotated[bool, typer.Option(
        "--recorder", help="loop: beside the quiet run, the same run with the session "
        "recorder and the web page on (a page reading its stream); with --minutes, that "
        "run is the soak.")] = False,
    period_frames: Annotated[int, typer.Option(
        help="loop, clock: the JACK period, in frames at 48 kHz.", min=16)] = LOOP_PERIOD_FRAMES,
    seconds: Annotated[float, typer.Option(
        help="train: seconds of training steps timed per family.", min=1)] = 20.0,
    device: Annotated[str, typer.Option(
        help="train: cpu, or cuda (its own section, train-cuda).")] = "cpu",
    output: Annotated[Path | None, typer.Option(
        help="A markdown file to record the tables in (its section of this benchmark is "
             "replaced), e.g. docs/BENCHMARKS.md. \\[default: print only]",
        dir_okay=False)] = None,
) -> None:
    """Measure Antiphon's speed on this machine; print it, and record it with --output."""
    setup_logging("warning")
    if benchmark not in BENCHMARKS:
        fail(f"benchmark must be one of {', '.join(BENCHMARKS)}, got {benchmark!r}",
             USAGE_ERROR)
    # From the options, not sys.argv: the file must name a command that reproduces it.
    options = {
        "engine": ["--steps", str(steps),
                   *(arg for name in model or [] for arg in ("--model", name))],
        "loop": ["--faults", *(["--model", model[0]] if model else [])] if faults else [
            "--exchanges", str(exchanges), "--minutes", f"{minutes:g}",
            "--period-frames", str(period_frames), *(["--recorder"] if recorder else []),
            *(["--model", model[0]] if model else [])],
        "clock": ["--exchanges", str(exchanges), "--period-frames", str(period_frames),
                  *(["--model", model[0]] if model else [])],
        "train": ["--seconds", f"{seconds:g}", *(["--device", device] if device != "cpu"
                                                  else [])],
    }[benchmark]
    if device not in ("cpu", "cuda"):
        fail(f"--device must be cpu or cuda, got {device!r}", USAGE_ERROR)
    if output is not None:
        options += ["--output", str(output)]
    command = shlex.join(["antiphon", "bench", benchmark, *options])
    try:
        if benchmark == "engine":
            body = _engine(model, steps, command)
        elif benchmark == "loop" and faults:
            body = _faults(model[0] if model else None, command)
        elif benchmark == "clock":
            body = _clock(model[0] if model else None, exchanges, period_frames, command)
        elif benchmark == "loop":
            body = _loop(model[0] if model else None, exchanges, minutes, recorder,
                         period_frames, command)
        else:
            body = _train(seconds, command, device)
    except (OSError, ValueError, RuntimeError) as err:
        fail(str(err))
    console.print("\n".join(body))
    if output is None:
        return
    from antiphon.daemon.bench.engine import replace_section

    document = output.read_text() if output.exists() else "\n".join(HEADER)
    output.parent.mkdir(parents=True, exist_ok=True)
    section = "train-cuda" if benchmark == "train" and device == "cuda" else benchmark
    section = "loop-faults" if benchmark == "loop" and faults else section
    if section == "loop" and recorder:  # beside the plain loop's tables, not over them
        section = "loop-recorder-soak" if minutes > 0 else "loop-recorder"
    output.write_text(replace_section(document, section, body))
    console.print(f"\nwrote {output}")


def _engine(model: list[str] | None, steps: int, command: str) -> list[str]:
    from antiphon.daemon.bench.engine import run_engine_bench
    from antiphon.exported_models import available_models

    with console.status("measuring the engine (one core)"):
        return run_engine_bench(model or available_models(), steps, command)


def _loop(model: str | None, exchanges: int, minutes: float, recorder: bool,
          period_frames: int, command: str) -> list[str]:
    from antiphon.daemon.bench.loop import PAGES, count_xruns, loop_section, run_loop
    from antiphon.daemon.midi.jack_server import (
        SAMPLE_RATE,
        private_jack_server,
        realtime_permitted,
    )

    # A musician runs JACK with realtime scheduling; without it, a JACK client that misses
    # its cycle on a loaded machine loses MIDI in JACK, which is not Antiphon's timing.
    realtime = realtime_permitted()
    runs = []
    with tempfile.TemporaryDirectory(prefix="antiphon-jackd-") as folder, private_jack_server(
            "antiphon-bench-loop", log_path=Path(folder) / "jackd.log",
            period_frames=period_frames, realtime=realtime) as env:
        # (label, one core kept busy, minutes, recorder and web page on): with --recorder
        # the quiet run is made twice, side by side, and the second is the soak.
        plan = [("quiet machine", False, 0.0 if recorder else minutes, False)]
        if recorder:
            plan.append(("quiet machine, recorder and web page on", False, minutes, True))
        plan.append(("one core kept busy", True, 0.0, False))
        for label, busy, run_minutes, recording in plan:
            # A line every 10 exchanges, no spinner: its redraws would take the GIL from
            # the recorder's polling thread, whose timestamps are the measurement.
            def progress(run, label=label) -> None:
                if run.exchanges % 10 == 0:
                    console.print(f"loop, {label}: {run.exchanges} exchanges")

            before = count_xruns(Path(folder) / "jackd.log")
            # The quiet run with --minutes is the soak: steered through the control socket.
            runs.append(run_loop(label, exchanges, run_minutes, busy, model, env, progress,
                                 steer=run_minutes > 0, recorder=recording))
            if recording:
                runs[-1].label += (f" ({runs[-1].page_rows} notes and events read by "
                                   f"{PAGES} pages)")
            runs[-1].jack_xruns = count_xruns(Path(folder) / "jackd.log") - before
    return loop_section(runs, command, period_frames, SAMPLE_RATE, realtime)


def _clock(model: str | None, exchanges: int, period_frames: int,
           command: str) -> list[str]:
    from antiphon.daemon.bench.clock import clock_section, run_clock
    from antiphon.daemon.bench.clock_out_timing import clock_out_section, run_clock_out
    from antiphon.daemon.midi.jack_server import private_jack_server, realtime_permitted

    def progress(run, label: str = "clock") -> None:
        if run.exchanges % 10 == 0:
            console.print(f"{label}: {run.exchanges} exchanges")

    from antiphon.daemon.bench.link_session import (
        LINK_NOT_MEASURED,
        link_available,
        link_section,
        run_link,
    )

    with tempfile.TemporaryDirectory(prefix="antiphon-jackd-") as folder, private_jack_server(
            "antiphon-bench-clock", log_path=Path(folder) / "jackd.log",
            period_frames=period_frames, realtime=realtime_permitted()) as env:
        body = clock_section(run_clock(exchanges, model, env, progress), command,
                             period_frames)
        console.print(f"clock out: {CLOCK_OUT_SECONDS:g} s at each tempo")
        body += ["", *clock_out_section(run_clock_out(CLOCK_OUT_SECONDS, model, env))]
        if not link_available():
            return [*body, "", *LINK_NOT_MEASURED]
        link = run_link(exchanges, model, env, lambda run: progress(run, "link"))
        return [*body, "", *link_section(link)]


def _faults(model: str | None, command: str) -> list[str]:
    from antiphon.daemon.bench.faults import faults_section, run_faults

    def progress(round_) -> None:
        console.print(f"faults: {round_.fault}: {round_.answered} answered, "
                      f"{round_.missed} missed")

    return faults_section(run_faults(model, progress), command)


def _train(seconds: float, command: str, device: str) -> list[str]:
    try:
        from antiphon.training.evaluation.bench_train import train_section
    except ImportError as err:
        raise OSError(f"`bench train` needs the training extra (pip install "
                      f"'antiphon[train]'): {err}") from err
    with console.status("timing training steps"):
        return train_section(seconds, command, device)
