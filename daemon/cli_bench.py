"""`antiphon bench`: measure, and write the tables into docs/BENCHMARKS.md, each under the
command that made it. Built so far: `engine`."""

import shlex
from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli_shared import USAGE_ERROR, console, fail, setup_logging

BENCHMARKS = ("engine",)
HEADER = [
    "# Benchmarks",
    "",
    "Written by `antiphon bench`; each section sits under the command that made it and is",
    "replaced when that command runs again. Where a target is missed, the table says so.",
    "",
]


def bench(
    benchmark: Annotated[str, typer.Argument(help="What to measure: engine.")] = "engine",
    model: Annotated[list[str] | None, typer.Option(
        help="Shipped model to measure (repeatable). \\[default: every shipped model]")] = None,
    steps: Annotated[int, typer.Option(help="Timed steps per model.", min=100)] = 5000,
    output: Annotated[Path, typer.Option(help="The markdown file to update.", dir_okay=False)]
        = Path("docs/BENCHMARKS.md"),
) -> None:
    """Measure Antiphon's speed on this machine and record it in docs/BENCHMARKS.md."""
    setup_logging("warning")
    if benchmark not in BENCHMARKS:
        fail(f"benchmark must be one of {', '.join(BENCHMARKS)}, got {benchmark!r}",
             USAGE_ERROR)
    from antiphon.daemon.bench_engine import replace_section, run_engine_bench
    from antiphon.exported_models import available_models

    # From the options, not sys.argv: the file must name a command that reproduces it.
    command = shlex.join(["antiphon", "bench", benchmark, "--steps", str(steps),
                          *(arg for name in model or [] for arg in ("--model", name)),
                          "--output", str(output)])
    try:
        with console.status("measuring the engine (one core)"):
            body = run_engine_bench(model or available_models(), steps, command)
    except (OSError, ValueError) as err:
        fail(str(err))
    document = output.read_text() if output.exists() else "\n".join(HEADER)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(replace_section(document, benchmark, body))
    console.print("\n".join(body))
    console.print(f"\nwrote {output}")
