"""What `antiphon train`, `export` and `eval` do, behind the thin CLI in the daemon.

The CLI imports this module inside those commands only, so `antiphon run` never loads
torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from antiphon.engine.card import ModelCard
from antiphon.training.data.benchmarks import load_benchmark
from antiphon.training.evaluation.frame_models import is_frame_model, load_frame_model
from antiphon.training.evaluation.held_out import (
    TOKEN_FAMILIES,
    Evaluation,
    benchmark_name,
    evaluate_benchmark,
    evaluate_token_models,
    load_token_model,
)
from antiphon.training.evaluation.model_table import write_model_docs
from antiphon.training.evaluation.vae_figures import data_figures
from antiphon.training.export import export_frame_model, export_token_model
from antiphon.training.families.token_configs import TOKEN_FAMILY_DEFAULTS, option_field
from antiphon.training.fit.checkpoint import FAMILIES
from antiphon.training.fit.loop import EpochReport
from antiphon.training.fit.small_pipeline import evaluate_small_models, is_small_model
from antiphon.training.fit.token_pipeline import train_token_model
from antiphon.training.fit.train_config import TrainConfig


def family_model_config(family: str, options: dict) -> dict:
    """`family`'s config fields for `antiphon train`: the family's defaults there
    (`TOKEN_FAMILY_DEFAULTS`), with the model options given on the command line on top.

    `options` maps option names (as Python names) to values, None for not given.

    An option the family does not have is an error, not silently dropped: `--cell gru`
    on a Transformer would otherwise train something other than what was asked for.
    """
    if family not in TOKEN_FAMILIES:
        known = "known" if family in FAMILIES else "unknown"
        raise ValueError(f"{known} model family {family!r} is not a token family; "
                         f"`antiphon train` trains {' or '.join(TOKEN_FAMILIES)}")
    defaults = asdict(TOKEN_FAMILY_DEFAULTS[family])
    defaults.pop("vocab_size")  # the codec's, set by the task
    given = {name: value for name, value in options.items() if value is not None}
    if foreign := sorted(name for name in given if option_field(name) not in defaults):
        raise ValueError(f"the {family} family has no option "
                         f"{', '.join('--' + name.replace('_', '-') for name in foreign)}")
    return {**defaults, **{option_field(name): value for name, value in given.items()}}


def run_train(
    console: Console,
    out: Path,
    sources: Sequence[str],
    midi_dirs: Sequence[Path],
    model_config: dict,
    config: TrainConfig,
    workers: int | None = None,
    limit: int | None = None,
    threads: int | None = None,
    family: str = "recurrent",
    prepared: Path | None = None,
) -> Path:
    """Train, printing a line per epoch and the held-out figures; returns best.pt."""
    if threads:
        torch.set_num_threads(threads)
    kind = model_config.get("cell", "lstm") if family == "recurrent" else family
    console.print(f"training a {kind} model on "
                  f"{prepared or ', '.join([*sources, *map(str, midi_dirs)])} into {out}")

    def show(report: EpochReport) -> None:
        console.print(
            f"epoch {report.epoch:3d}  train NLL {report.train_nll:.4f}  "
            f"valid NLL {report.valid_nll:.4f}  valid acc {report.valid_accuracy:.3f}  "
            f"{report.tokens_per_second:,.0f} tokens/s  {report.seconds:.0f} s"
        )

    best, metrics = train_token_model(out, sources, midi_dirs, model_config, config,
                                      workers=workers, limit=limit, on_epoch=show,
                                      family=family, prepared=prepared)
    if not metrics:
        return best  # a torchrun worker: rank 0 reports
    table = Table(title="held-out NLL per token (nats), test split", title_justify="left")
    table.add_column("model")
    table.add_column("NLL", justify="right")
    table.add_row("unigram baseline", f"{metrics['test_unigram_nll_per_token']:.4f}")
    table.add_row("bigram baseline", f"{metrics['test_bigram_nll_per_token']:.4f}")
    table.add_row(f"this model ({best})", f"{metrics['test_nll_per_token']:.4f}")
    console.print(table)
    console.print(f"test next-token accuracy {metrics['test_accuracy']:.3f}")
    return best


def run_export(
    console: Console, checkpoint: Path, out: Path, name: str, description: str,
    shown_as: str = "",
) -> ModelCard:
    """Export `checkpoint` to `out` and say so (`shown_as`: what to call the file written,
    when it is a step on the way to another, as the float32 graph an int8 copy is made of)."""
    if is_frame_model(checkpoint):
        card = export_frame_model(checkpoint, out, name, description)
        unit, size = "frame", f"{card.vocab_size} keys"
    else:
        card = export_token_model(checkpoint, out, name, description)
        unit, size = "token", f"{card.vocab_size} tokens"
    figures = [f"{card.metrics[f'test_nll_per_{u}']:.4f} nats/{u}" for u in (unit, "frame")
               if f"test_nll_per_{u}" in card.metrics]  # a token model on a benchmark: both
    console.print(f"wrote {shown_as or out}: {card.family}, {size}, test NLL "
                  f"{', '.join(dict.fromkeys(figures)) or 'not recorded'}")
    return card


def run_eval(
    console: Console,
    models: Sequence[Path],
    sources: Sequence[str],
    midi_dirs: Sequence[Path],
    benchmarks: Sequence[Path],
    limit: int | None = None,
    workers: int | None = None,
    skip_first_frame: bool = False,
    docs_dir: Path | None = None,
    command: str = "",
) -> list[Evaluation]:
    """Score token models on the corpora's test split, and each benchmark's floors beside
    the piano-roll models trained on that benchmark."""
    torch.set_num_threads(1)  # stepping is one token at a time: more threads only contend
    evaluations = []
    small = [path for path in models if is_small_model(path)]
    frame_models = [load_frame_model(path) for path in models if is_frame_model(path)]
    models = [path for path in models
              if path not in {m.path for m in frame_models} and path not in small]
    token_models = [load_token_model(path) for path in models]
    given = {benchmark_name(path) for path in benchmarks}
    unscored = [*(m for m in frame_models if m.benchmark not in given),
                *(m for m in token_models if m.benchmark and m.benchmark not in given)]
    if unscored:
        raise ValueError(f"{', '.join(str(m.path) for m in unscored)}: a model trained on a "
                         "piano-roll benchmark is scored on it; give it with --benchmark")
    # Trained on corpora: scored on the corpora (and on every benchmark given, as they
    # would play it); trained on a benchmark: on that benchmark alone.
    on_corpora = [m for m in token_models if not m.benchmark]
    if on_corpora and (sources or midi_dirs):
        console.print(f"scoring {', '.join(m.name for m in on_corpora)} on the test split "
                      f"of {', '.join([*sources, *map(str, midi_dirs)])}")
        evaluations.append(evaluate_token_models(on_corpora, sources, midi_dirs,
                                                 limit=limit, workers=workers))
    if small:
        evaluations += evaluate_small_models(small, sources, midi_dirs, workers)
    for path in benchmarks:
        mine = [m for m in frame_models if m.benchmark == benchmark_name(path)]
        tokens = [m for m in token_models if m.benchmark in ("", benchmark_name(path))]
        evaluation = evaluate_benchmark(
            path, {m.name: m.predict for m in mine if m.predict}, skip_first_frame,
            measured_on={m.name: str(m.path) for m in [*mine, *tokens]},
            scorers={**{m.name: m.score for m in mine if m.score},
                     **{m.name: m.frame_scorer(path) for m in tokens}})
        if any(m.density for m in mine):  # what the frame models draw, beside the data
            test = load_benchmark(path)["test"]
            evaluation.notes["notes per frame: test data"] = float(
                np.mean(np.concatenate([roll.sum(axis=1) for roll in test])))
            for m in mine:
                if m.density:
                    evaluation.notes[f"notes per frame: {m.name} samples"] = m.density(test)
        if any(m.figures for m in mine):  # a VAE's reconstruction and repetition
            test = load_benchmark(path)["test"]
            figures = data_figures(test)
            for m in mine:
                if m.figures:
                    figures |= {f"{name}: {m.name}": value
                                for name, value in m.figures(test).items()}
            for name, value in figures.items():
                console.print(f"{name}: {value:.3f}")
            evaluation.notes |= figures
        evaluations.append(evaluation)
    for evaluation in evaluations:
        console.print(evaluation_table(evaluation))
        for name, seconds in evaluation.seconds.items():
            console.print(f"{name} scored in {seconds:.0f} s")
    if docs_dir is not None:
        for path in write_model_docs(docs_dir, command, evaluations):
            console.print(f"wrote {path}")
    return evaluations


def evaluation_table(evaluation: Evaluation) -> Table:
    counts = ", ".join(f"{int(evaluation.notes[key]):,} {key.removeprefix('test_')}"
                       for key in ("test_pieces", "test_tokens", "test_frames")
                       if key in evaluation.notes)
    table = Table(title=f"{evaluation.dataset}, test split ({counts}): NLL in "
                        f"{evaluation.unit}", title_justify="left")
    table.add_column("model")
    table.add_column("NLL", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("measured on")
    for row in evaluation.rows:
        table.add_row(row.model, f"{row.nll:.4f}",
                      "" if row.accuracy is None else f"{row.accuracy:.3f}", row.measured_on)
    return table
