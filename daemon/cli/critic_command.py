"""`antiphon train-critic` and `antiphon eval critic`: train the answer critic that picks
the best of several sampled answers, and measure a critic file on held-out calls
(registered in app.py).

Each imports the training package inside its body: torch and music21 are the `train`
extra, and `antiphon run` must never load them.
"""

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.shared import console, fail, setup_logging

DEFAULT_CRITIC = Path("exported_models/critic.onnx")
SAMPLING_MODEL = "default"


def default_sampler():
    """The critic's sampler (training/evaluation/critic_pairs.py `Sampler`): the shipped
    default model answers a call as `antiphon continue` does with its default settings
    (texture auto, scale auto with the key lean, temperature 1.0, the default top-p),
    untouched by any config file or ANTIPHON_ variable, one answer drawn per call. The
    model loads at the first call, so a run whose pairs are all cached never loads it."""
    from antiphon.daemon.config.loading import load_config
    from antiphon.daemon.play.continuation import new_session, sample_answer
    from antiphon.daemon.service.daemon import loop_settings
    from antiphon.daemon.service.startup import resolve_model_path
    from antiphon.engine.model import StepModel

    # One answer per call, never the best of several: the critic must learn what the model
    # samples, not what an earlier critic picked from it.
    settings = replace(loop_settings(load_config(None, {}, {}, use_default_file=False),
                                     shares_clock=True), candidates=1)
    loaded: list[StepModel] = []

    def sample(call, start_tick: int, length_ticks: int, seed: int):
        if not loaded:
            loaded.append(StepModel(resolve_model_path(SAMPLING_MODEL), device="cpu"))
        session = new_session(loaded[0], seed)
        return sample_answer(session, call, start_tick, length_ticks, settings)[0]

    return sample


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
        from antiphon.training.evaluation.critic_train import (
            CriticTrainConfig,
            figures_table,
        )
        from antiphon.training.evaluation.critic_train import train_critic as run
        from antiphon.training.families.critic import CriticConfig
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    config = CriticTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                               limit=limit)
    try:
        result = run(out, export, CriticConfig(embedding=embedding, hidden=hidden), config,
                     default_sampler(), workers=workers, threads=threads)
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
        report = critic_report(loaded, default_sampler(), limit=limit, workers=workers)
    except (ModelLoadError, OSError, ValueError) as err:
        fail(str(err))
    console.print(report, highlight=False, soft_wrap=True)
