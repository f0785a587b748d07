"""`antiphon train-critic` and `antiphon eval-critic`: train the answer critic that picks
the best of several sampled answers, and measure a critic file on held-out calls
(registered on the app in app.py).

Each imports the training package inside its body: torch and music21 are the `train`
extra, and `antiphon run` must never load them.
"""

from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.shared import console, fail, setup_logging

DEFAULT_CRITIC = Path("exported_models/critic.onnx")


def train_critic(
    out: Annotated[Path, typer.Option(help="Run folder (the best checkpoint: best.pt).")]
        = Path("runs/critic"),
    export: Annotated[Path, typer.Option(
        help="Where to write the exported critic (.onnx).")] = DEFAULT_CRITIC,
    epochs: Annotated[int, typer.Option(
        help="Most epochs (early stopping on the valid split may end sooner).", min=1)] = 50,
    hidden: Annotated[int, typer.Option(help="LSTM width per direction.", min=4)] = 64,
    embedding: Annotated[int, typer.Option(help="Token embedding width.", min=4)] = 64,
    batch_size: Annotated[int, typer.Option(
        help="Calls per step (each with its three answers).", min=1)] = 32,
    lr: Annotated[float, typer.Option(help="Learning rate (AdamW).", min=1e-6)] = 2e-3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    limit: Annotated[int | None, typer.Option(
        help="Only the first N tunes of each collection and split (a quick run).", min=1)]
        = None,
    threads: Annotated[int | None, typer.Option(help="torch threads. \\[default: torch's]",
                                                min=1)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes for parsing scores not yet cached. \\[default: all cores]", min=1)]
        = None,
) -> None:
    """Train the answer critic: a bidirectional LSTM telling a call's real continuation
    (folk tunes, Bach chorales) from answers sampled by the shipped default model and from
    other tunes' continuations; prints its test-split figures and exports it."""
    setup_logging("info")
    try:
        import torch

        from antiphon.training.evaluation.critic_train import (
            CriticTrainConfig,
            figures_table,
        )
        from antiphon.training.evaluation.critic_train import train_critic as run
        from antiphon.training.families.critic import CriticConfig
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    if threads:
        torch.set_num_threads(threads)
    config = CriticTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                               limit=limit)
    try:
        result = run(out, export, CriticConfig(embedding=embedding, hidden=hidden), config,
                     workers=workers)
    except (OSError, ValueError, RuntimeError) as err:
        fail(str(err))
    console.print(figures_table(result["test"]), highlight=False, soft_wrap=True)
    console.print(f"best epoch {result['training']['best_epoch']}; wrote {export}",
                  highlight=False)


def eval_critic(
    critic: Annotated[Path, typer.Argument(help="The critic file (.onnx).")] = DEFAULT_CRITIC,
    limit: Annotated[int | None, typer.Option(
        help="Only the first N test tunes of each collection (a quick run).", min=1)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes for parsing scores not yet cached. \\[default: all cores]", min=1)]
        = None,
) -> None:
    """Measure a critic on the test split's calls through the runtime scorer: how often the
    real continuation scores above the sampled answer, and above another tune's; prints
    the time to score 8 answers."""
    setup_logging("warning")
    from antiphon.engine.card import ModelLoadError
    from antiphon.engine.critic import Critic

    try:
        from antiphon.training.evaluation.critic_report import critic_report
    except ImportError as err:
        fail(f"evaluating the critic needs the train extra: pip install 'antiphon[train]' "
             f"({err})")
    try:
        loaded = Critic.load(critic)
        report = critic_report(loaded, limit=limit, workers=workers)
    except (ModelLoadError, OSError, ValueError) as err:
        fail(str(err))
    console.print(report, highlight=False, soft_wrap=True)
