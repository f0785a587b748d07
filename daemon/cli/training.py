"""The commands that fit models: `antiphon train` (token models on corpora, MIDI folders or
a prepared folder), `train-frames` (a family on a piano-roll benchmark) and `train-small`
(the small melody models). Registered on the app in app.py, which also takes the other
training commands from here: `export`, `eval` and `bridge` (model_commands.py) and
`prepare` (prepare_command.py).

Each command imports the training package inside its body: torch is the `train` extra,
and `antiphon run` must never load it. Their defaults come from the training package's
torch-free config modules, read only when needed (training_defaults.py): a family's or a
command's default changed there changes the option and its help.
"""

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.model_commands import bridge, evaluate, export
from antiphon.daemon.cli.prepare_command import prepare
from antiphon.daemon.cli.shared import (
    DEFAULT_CORPORA,
    USAGE_ERROR,
    console,
    fail,
    setup_logging,
)
from antiphon.daemon.cli.training_defaults import FAMILY, TRAIN, TRAIN_FRAMES, TRAIN_SMALL

# app.py registers all seven from here.
__all__ = ["bridge", "evaluate", "export", "prepare", "train", "train_frames", "train_small"]


def train(
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints (best.pt, latest.pt); "
                                      "a run resumes from latest.pt.")] = Path("runs/default"),
    corpus: Annotated[list[str] | None, typer.Option(
        help="music21 corpus to train on (repeat the option for several). \\[default: "
             "essenFolksong, oneills1850, bach, unless --midi-dir is given]")] = None,
    midi_dir: Annotated[list[Path] | None, typer.Option(
        help="Folder of .mid files, searched recursively (repeatable).", file_okay=False,
        exists=True)] = None,
    data: Annotated[Path | None, typer.Option(
        help="A folder made by `antiphon prepare` (memory-mapped; instead of --corpus and "
             "--midi-dir).", file_okay=False, exists=True)] = None,
    family: Annotated[str, typer.Option(help="recurrent or transformer.")] = "recurrent",
    cell: Annotated[str | None, typer.Option(
        help="Recurrent cell: lstm, gru or rnn.")] = FAMILY.cell,
    hidden: Annotated[int | None, typer.Option(help="Recurrent state width.")] = FAMILY.hidden,
    embedding: Annotated[int | None, typer.Option(
        help="Recurrent token embedding width.")] = FAMILY.embedding,
    width: Annotated[int | None, typer.Option(
        help="Transformer width (a multiple of --heads).")] = FAMILY.width,
    heads: Annotated[int | None, typer.Option(
        help="Transformer attention heads.")] = FAMILY.heads,
    attention_window: Annotated[int | None, typer.Option(
        help="Tokens a Transformer query attends to (its cache length; --window is the "
             "training window).")] = FAMILY.attention_window,
    layers: Annotated[int | None, typer.Option(help="Layers.")] = FAMILY.layers,
    dropout: Annotated[float | None, typer.Option(
        help="Dropout while training.")] = FAMILY.dropout,
    epochs: Annotated[int, typer.Option(
        help="Most epochs (early stopping may end sooner).")] = TRAIN.epochs,
    steps_per_epoch: Annotated[int, typer.Option(
        help="Optimiser steps per epoch; 0: one pass over the training tokens.")
    ] = TRAIN.steps_per_epoch,
    batch_size: Annotated[int, typer.Option(help="Windows per step.")] = TRAIN.batch_size,
    window: Annotated[int, typer.Option(help="Tokens per window.")] = TRAIN.window,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = TRAIN.lr,
    seed: Annotated[int, typer.Option(help="Random seed.")] = TRAIN.seed,
    limit: Annotated[int | None, typer.Option(
        help="Take at most this many pieces per corpus (for a quick try).")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes for parsing scores. \\[default: all cores]")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads. \\[default: torch's]")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = TRAIN.device,
) -> None:
    """Train a token model (recurrent or Transformer) on music21 corpora and MIDI folders.

    Needs the `train` extra.
    """
    setup_logging("warning")
    try:
        from antiphon.training.commands import family_model_config, run_train
        from antiphon.training.fit.train_config import TOKEN_TRAINING
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        model_config = family_model_config(family, {
            "cell": cell, "hidden": hidden, "embedding": embedding, "width": width,
            "heads": heads, "attention_window": attention_window, "layers": layers,
            "dropout": dropout})
    except ValueError as err:
        fail(str(err), USAGE_ERROR)
    try:
        config = replace(TOKEN_TRAINING, epochs=epochs, steps_per_epoch=steps_per_epoch,
                         batch_size=batch_size, window=window, lr=lr, seed=seed,
                         device=device)
        if data is not None and (corpus or midi_dir):
            fail("--data replaces --corpus and --midi-dir; give one or the other", USAGE_ERROR)
        if corpus is None:
            corpus = [] if midi_dir or data else list(DEFAULT_CORPORA)
        run_train(console, out, corpus, midi_dir or [], model_config, config,
                  workers=workers, limit=limit, threads=threads, family=family, prepared=data)
    except (OSError, ValueError) as err:
        fail(str(err))


FRAME_FAMILY_NAMES = ("rnn-nade", "lstm-vae", "transformer-vae", "gru-seq2seq", "bar-gan")
# Token families on a benchmark: its rolls serialised into event tokens (roll_tokens).
SERIALISED_FAMILIES = {"lstm": ("recurrent", "lstm"), "gru": ("recurrent", "gru"),
                       "rnn": ("recurrent", "rnn"), "transformer": ("transformer", None)}


def train_frames(
    benchmark: Annotated[Path, typer.Argument(
        help="Piano-roll benchmark: BL2012 .mat (JSB_Chorales, Nottingham, ...), JSB .json, "
             "or a folder from `prepare --rolls`.", exists=True)],
    out: Annotated[Path, typer.Option(help="Run folder (checkpoints; resumed if present).")],
    family: Annotated[str, typer.Option(
        help="rnn-nade, lstm-vae, transformer-vae, gru-seq2seq or bar-gan (a GAN: a fixed "
             "budget, no early stop; its learning rates in --model-config); or a token "
             "family (lstm, gru, rnn, transformer) on the rolls serialised as event tokens.")
    ] = "rnn-nade",
    model_config: Annotated[str, typer.Option(
        help='The family\'s config as JSON, e.g. \'{"hidden": 512}\'.')] = "{}",
    epochs: Annotated[int, typer.Option(
        help="Most epochs (early stopping may end sooner).", min=1)] = TRAIN_FRAMES.epochs,
    steps_per_epoch: Annotated[int, typer.Option(help="Optimiser steps per epoch.", min=1)
    ] = TRAIN_FRAMES.steps_per_epoch,
    batch_size: Annotated[int, typer.Option(help="Crops per step.", min=1)
    ] = TRAIN_FRAMES.batch_size,
    window: Annotated[int, typer.Option(
        help="Frames per training crop (tokens per window for a token family).", min=2)
    ] = TRAIN_FRAMES.window,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = TRAIN_FRAMES.lr,
    transpose: Annotated[tuple[int, int], typer.Option(
        help="Random transposition range in semitones (0 0: none).")
    ] = TRAIN_FRAMES.transpose,
    patience: Annotated[int, typer.Option(
        help="Stop after this many epochs without a better valid NLL.", min=1)
    ] = TRAIN_FRAMES.patience,
    seed: Annotated[int, typer.Option(help="Random seed.")] = TRAIN_FRAMES.seed,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = TRAIN_FRAMES.device,
    minutes: Annotated[float, typer.Option(
        help="A time budget: after the first epoch, the number of epochs (in place of "
             "--epochs) and the learning-rate schedule are fitted to it (0: none).", min=0.0)
    ] = TRAIN_FRAMES.minutes,
) -> None:
    """Train a piano-roll family on a benchmark; prints its test NLL beside the floors."""
    import json

    setup_logging("info")
    if family not in (*FRAME_FAMILY_NAMES, *SERIALISED_FAMILIES):
        fail(f"--family must be one of {', '.join([*FRAME_FAMILY_NAMES, *SERIALISED_FAMILIES])}"
             f", got {family!r}", USAGE_ERROR)
    try:
        config_fields = json.loads(model_config)
    except json.JSONDecodeError as err:
        fail(f"--model-config is not JSON: {err}", USAGE_ERROR)
    try:
        from antiphon.training.fit.frame_pipeline import train_on_benchmark
        from antiphon.training.fit.token_pipeline import train_token_model_on_benchmark
        from antiphon.training.fit.train_config import FRAME_TRAINING
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        config = replace(FRAME_TRAINING, epochs=epochs, steps_per_epoch=steps_per_epoch,
                         batch_size=batch_size, window=window, lr=lr, transpose=transpose,
                         patience=patience, seed=seed, device=device, minutes=minutes)
        if family in SERIALISED_FAMILIES:
            token_family, cell = SERIALISED_FAMILIES[family]
            config_fields = {**({"cell": cell} if cell else {}), **config_fields}
            _, metrics = train_token_model_on_benchmark(benchmark, out, config_fields, config,
                                                        token_family)
        else:
            metrics = train_on_benchmark(str(benchmark), str(out), config_fields, config,
                                         family)
    except (OSError, ValueError, TypeError) as err:
        fail(str(err))
    if not metrics:
        return  # a torchrun worker: rank 0 reports
    if family == "bar-gan":  # no likelihood: its bars beside the real ones
        console.print(f"bar-gan on {benchmark.name}: test notes per frame "
                      f"{metrics['test_notes_per_frame_generated']:.2f} generated, "
                      f"{metrics['test_notes_per_frame_real']:.2f} real; pitch-class distance "
                      f"{metrics['test_pitch_class_distance']:.3f}; checkpoint {out / 'best.pt'}")
        return
    density = (f"; notes per frame: {metrics['test_note_density_sampled']:.2f} sampled, "
               f"{metrics['test_note_density_data']:.2f} in the data"
               if "test_note_density_sampled" in metrics else "")
    console.print(f"{family} on {benchmark.name}: test NLL {metrics['test_nll_per_frame']:.4f} "
                  f"nats/frame (per-key unigram {metrics['test_unigram_nll_per_frame']:.4f}, "
                  f"Markov {metrics['test_markov_nll_per_frame']:.4f}){density}; best "
                  f"checkpoint {out / 'best.pt'}")


def train_small(
    kind: Annotated[str, typer.Argument(
        help="melody (16th-note grid LSTM) or pitch-duration (two-headed LSTM).")],
    out: Annotated[Path, typer.Option(help="Run folder (checkpoints; resumed if present).")],
    corpus: Annotated[list[str] | None, typer.Option(
        help="music21 corpus (repeatable). \\[default: essenFolksong, unless --midi-dir]")
    ] = None,
    midi_dir: Annotated[list[Path] | None, typer.Option(
        help="Folder of .mid files (repeatable).", file_okay=False, exists=True)] = None,
    epochs: Annotated[int, typer.Option(
        help="Most epochs (early stopping may end sooner).", min=1)] = TRAIN_SMALL.epochs,
    steps_per_epoch: Annotated[int, typer.Option(help="Optimiser steps per epoch.", min=1)
    ] = TRAIN_SMALL.steps_per_epoch,
    batch_size: Annotated[int, typer.Option(help="Windows per step.", min=1)
    ] = TRAIN_SMALL.batch_size,
    window: Annotated[int, typer.Option(help="Steps (16ths or notes) per window.", min=2)
    ] = TRAIN_SMALL.window,
    workers: Annotated[int | None, typer.Option(help="Processes for parsing scores.")] = None,
    limit: Annotated[int | None, typer.Option(help="Pieces per source (quick runs).", min=1)]
        = None,
) -> None:
    """Train one of the small melody models; prints its test figures beside baselines."""
    setup_logging("info")
    try:
        from antiphon.training.fit.small_pipeline import KINDS
        from antiphon.training.fit.small_pipeline import train_small as run
        from antiphon.training.fit.train_config import SMALL_TRAINING
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    if kind not in KINDS:
        fail(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", USAGE_ERROR)
    sources = corpus if corpus is not None else ([] if midi_dir else ["essenFolksong"])
    config = replace(SMALL_TRAINING, epochs=epochs, steps_per_epoch=steps_per_epoch,
                     batch_size=batch_size, window=window)
    try:
        metrics = run(kind, out, sources, midi_dir or [], {}, config, workers, limit)
    except (OSError, ValueError) as err:
        fail(str(err))
    if not metrics:
        return  # a torchrun worker: rank 0 reports
    shown = {key: value for key, value in metrics.items()
             if key.startswith("test_") and isinstance(value, float)}
    console.print(f"{kind}: " + ", ".join(f"{key} {value:.4f}" for key, value in shown.items()))
