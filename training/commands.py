"""What `antiphon train` and `antiphon export` do, behind the thin CLI in the daemon.

The CLI imports this module inside those two commands only, so `antiphon run` never
loads torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from antiphon.engine.card import ModelCard
from antiphon.training.export import export_token_model
from antiphon.training.pipeline import train_token_model
from antiphon.training.train import EpochReport, TrainConfig


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
) -> Path:
    """Train, printing a line per epoch and the held-out figures; returns best.pt."""
    if threads:
        torch.set_num_threads(threads)
    console.print(f"training a {model_config.get('cell', 'lstm')} model on "
                  f"{', '.join([*sources, *map(str, midi_dirs)])} into {out}")

    def show(report: EpochReport) -> None:
        console.print(
            f"epoch {report.epoch:3d}  train NLL {report.train_nll:.4f}  "
            f"valid NLL {report.valid_nll:.4f}  valid acc {report.valid_accuracy:.3f}  "
            f"{report.tokens_per_second:,.0f} tokens/s  {report.seconds:.0f} s"
        )

    best, metrics = train_token_model(out, sources, midi_dirs, model_config, config,
                                      workers=workers, limit=limit, on_epoch=show)
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
    console: Console, checkpoint: Path, out: Path, name: str, description: str
) -> ModelCard:
    card = export_token_model(checkpoint, out, name, description)
    console.print(f"wrote {out}: {card.family}, {card.vocab_size} tokens, "
                  f"test NLL {card.metrics.get('test_nll_per_token', float('nan')):.4f}")
    return card
