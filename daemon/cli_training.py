"""The `antiphon train`, `export` and `eval` commands (registered on the app in cli.py).

Each imports the training package inside its body: torch is the `train` extra, and
`antiphon run` must never load it.
"""

from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli_shared import (
    DEFAULT_CORPORA,
    USAGE_ERROR,
    console,
    fail,
    setup_logging,
)

RECURRENT_DEFAULTS = {"cell": "lstm", "hidden": 512, "layers": 2, "embedding": 128,
                      "dropout": 0.2}


def train(
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints (best.pt, latest.pt); "
                                      "a run resumes from latest.pt.")] = Path("runs/default"),
    corpus: Annotated[list[str] | None, typer.Option(
        help="music21 corpus to train on (repeat the option for several). \\[default: "
             "essenFolksong, oneills1850, bach, unless --midi-dir is given]")] = None,
    midi_dir: Annotated[list[Path] | None, typer.Option(
        help="Folder of .mid files, searched recursively (repeatable).", file_okay=False,
        exists=True)] = None,
    family: Annotated[str, typer.Option(help="recurrent or transformer.")] = "recurrent",
    cell: Annotated[str | None, typer.Option(
        help="Recurrent cell: lstm, gru or rnn. \\[default: lstm]")] = None,
    hidden: Annotated[int | None, typer.Option(
        help="Recurrent state width. \\[default: 512]")] = None,
    embedding: Annotated[int | None, typer.Option(
        help="Recurrent token embedding width. \\[default: 128]")] = None,
    width: Annotated[int | None, typer.Option(
        help="Transformer width (a multiple of --heads). \\[default: 256]")] = None,
    heads: Annotated[int | None, typer.Option(
        help="Transformer attention heads. \\[default: 4]")] = None,
    attention_window: Annotated[int | None, typer.Option(
        help="Tokens a Transformer query attends to (its cache length; --window is the "
             "training window). \\[default: 512]")] = None,
    layers: Annotated[int | None, typer.Option(
        help="Layers. \\[default: 2 recurrent, 4 transformer]")] = None,
    dropout: Annotated[float | None, typer.Option(
        help="Dropout while training. \\[default: 0.2 recurrent, 0.1 transformer]")] = None,
    epochs: Annotated[int, typer.Option(help="Most epochs (early stopping may end sooner).")] = 12,
    steps_per_epoch: Annotated[int, typer.Option(
        help="Optimiser steps per epoch; 0: one pass over the training tokens.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Windows per step.")] = 32,
    window: Annotated[int, typer.Option(help="Tokens per window.")] = 256,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 2e-3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    limit: Annotated[int | None, typer.Option(
        help="Take at most this many pieces per corpus (for a quick try).")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes for parsing scores. \\[default: all cores]")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads. \\[default: torch's]")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Train a token model (recurrent or Transformer) on music21 corpora and MIDI folders.

    Needs the `train` extra.
    """
    setup_logging("warning")
    try:
        from antiphon.training.commands import family_model_config, run_train
        from antiphon.training.train import TrainConfig
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        model_config = family_model_config(family, {
            "cell": cell, "hidden": hidden, "embedding": embedding, "width": width,
            "heads": heads, "attention_window": attention_window, "layers": layers,
            "dropout": dropout})
    except ValueError as err:
        fail(str(err), USAGE_ERROR)
    if family == "recurrent":  # the CLI's recurrent defaults: the shipped LSTM's
        model_config = {**RECURRENT_DEFAULTS, **model_config}
    try:
        config = TrainConfig(epochs=epochs, steps_per_epoch=steps_per_epoch,
                             batch_size=batch_size, window=window, lr=lr, seed=seed,
                             device=device)
        if corpus is None:
            corpus = [] if midi_dir else list(DEFAULT_CORPORA)
        run_train(console, out, corpus, midi_dir or [], model_config, config,
                  workers=workers, limit=limit, threads=threads, family=family)
    except (OSError, ValueError) as err:
        fail(str(err))


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint (best.pt) from `antiphon train`.",
                                               exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option(help="The .onnx file to write.")] = Path("model.onnx"),
    name: Annotated[str, typer.Option(help="The model's name (for --model NAME).")] = "",
    description: Annotated[str, typer.Option(help="One line for `antiphon models`.")] = "",
) -> None:
    """Export a checkpoint as an ONNX step graph with its model card, checked against torch."""
    setup_logging("warning")
    try:
        from antiphon.training.commands import run_export
        from antiphon.training.export import ExportError
    except ImportError as err:
        fail(f"exporting needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        run_export(console, checkpoint, out, name or out.stem, description)
    except (OSError, ValueError, ExportError) as err:
        fail(str(err))


def evaluate(
    models: Annotated[list[str] | None, typer.Argument(
        help="Token models: .onnx files or shipped names (stepped through the engine, as "
             "they play), or .pt checkpoints (through torch). \\[default: the shipped "
             "default, unless only --benchmark is given]", show_default=False)] = None,
    corpus: Annotated[list[str] | None, typer.Option(
        help="music21 corpus whose test split scores the token models (repeatable). "
             "\\[default: essenFolksong, oneills1850, bach, unless --midi-dir is given]")] = None,
    midi_dir: Annotated[list[Path] | None, typer.Option(
        help="Folder of .mid files whose test split scores the token models (repeatable).",
        file_okay=False, exists=True)] = None,
    benchmark: Annotated[list[Path] | None, typer.Option(
        help="Piano-roll benchmark (BL2012 .mat or JSB .json): its floors on the test split "
             "(repeatable).", dir_okay=False, exists=True)] = None,
    limit: Annotated[int | None, typer.Option(
        help="Score only the first N test pieces (for a quick run).", min=1)] = None,
    skip_first_frame: Annotated[bool, typer.Option(
        help="Leave each piece's first frame unscored on benchmarks.")] = False,
    write_docs: Annotated[Path | None, typer.Option(
        help="Also write MODELS.md and MODELS.json (with this command at the top) into this "
             "folder.", file_okay=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes for parsing scores. \\[default: all cores]")] = None,
) -> None:
    """Score models on held-out music, beside the count baselines (needs the `train` extra)."""
    setup_logging("warning")
    try:
        from antiphon.training.commands import run_eval
        from antiphon.training.model_table import eval_command_line
    except ImportError as err:
        fail(f"evaluating needs the train extra: pip install 'antiphon[train]' ({err})")
    from antiphon.exported_models import DEFAULT_MODEL, model_path

    if models is None:
        models = [] if benchmark else [DEFAULT_MODEL]
    if limit is not None and write_docs is not None:
        fail("--write-docs records whole test splits; leave out --limit", USAGE_ERROR)
    if corpus is None:
        corpus = [] if midi_dir else list(DEFAULT_CORPORA)
    try:
        paths = [Path(name) if name.endswith(".pt") else model_path(name) for name in models]
        command = eval_command_line(models, corpus, midi_dir or [], benchmark or [],
                                    skip_first_frame, write_docs)
        run_eval(console, paths, corpus, midi_dir or [], benchmark or [], limit=limit,
                 workers=workers, skip_first_frame=skip_first_frame, docs_dir=write_docs,
                 command=command)
    except (OSError, ValueError) as err:
        fail(str(err))
