"""The `antiphon train`, `train-frames`, `export`, `eval` and `bridge` commands (registered
on the app in app.py).

Each imports the training package inside its body: torch is the `train` extra, and
`antiphon run` must never load it.
"""

from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.shared import (
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
    data: Annotated[Path | None, typer.Option(
        help="A folder made by `antiphon prepare` (memory-mapped; instead of --corpus and "
             "--midi-dir).", file_okay=False, exists=True)] = None,
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
        from antiphon.training.fit.loop import TrainConfig
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
        if data is not None and (corpus or midi_dir):
            fail("--data replaces --corpus and --midi-dir; give one or the other", USAGE_ERROR)
        if corpus is None:
            corpus = [] if midi_dir or data else list(DEFAULT_CORPORA)
        run_train(console, out, corpus, midi_dir or [], model_config, config,
                  workers=workers, limit=limit, threads=threads, family=family, prepared=data)
    except (OSError, ValueError) as err:
        fail(str(err))


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint (best.pt) from `antiphon train`.",
                                               exists=True, dir_okay=False)],
    out: Annotated[Path | None, typer.Option(
        help="The .onnx file to write. \\[default: NAME.onnx in your models folder with "
             "--name, else model.onnx here]", dir_okay=False)] = None,
    name: Annotated[str, typer.Option(
        help="The model's name: `--model NAME` plays it, `antiphon models` lists it.")] = "",
    description: Annotated[str, typer.Option(help="One line for `antiphon models`.")] = "",
) -> None:
    """Export a checkpoint as an ONNX step graph with its model card, checked against torch.

    With --name and no --out, the model goes into your models folder
    (~/.local/share/antiphon/models on Linux), where --model NAME finds it."""
    setup_logging("warning")
    from antiphon.daemon.config.paths import user_models_dir

    if name and (Path(name).name != name or name.startswith(".")):
        fail(f"--name must be a plain file name (no folders, no leading dot), got {name!r}",
             USAGE_ERROR)
    if out is None:
        out = user_models_dir() / f"{name}.onnx" if name else Path("model.onnx")
    try:
        from antiphon.training.commands import run_export
        from antiphon.training.export import ExportError
    except ImportError as err:
        fail(f"exporting needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
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
        help="Piano-roll benchmark (BL2012 .mat, JSB .json, or a folder from `prepare "
             "--rolls`): its floors on the test split (repeatable).", exists=True)] = None,
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
        from antiphon.training.evaluation.model_table import eval_command_line
    except ImportError as err:
        fail(f"evaluating needs the train extra: pip install 'antiphon[train]' ({err})")
    from antiphon.daemon.config.models import find_model
    from antiphon.exported_models import DEFAULT_MODEL

    if models is None:
        models = [] if benchmark else [DEFAULT_MODEL]
    if limit is not None and write_docs is not None:
        fail("--write-docs records whole test splits; leave out --limit", USAGE_ERROR)
    if corpus is None:
        corpus = [] if midi_dir else list(DEFAULT_CORPORA)
    try:
        paths = [Path(name) if name.endswith(".pt") else find_model(name) for name in models]
        command = eval_command_line(models, corpus, midi_dir or [], benchmark or [],
                                    skip_first_frame, write_docs)
        run_eval(console, paths, corpus, midi_dir or [], benchmark or [], limit=limit,
                 workers=workers, skip_first_frame=skip_first_frame, docs_dir=write_docs,
                 command=command)
    except (OSError, ValueError) as err:
        fail(str(err))


FRAME_FAMILY_NAMES = ("rnn-nade", "lstm-vae", "gru-seq2seq")
# Token families on a benchmark: its rolls serialised into event tokens (roll_tokens).
SERIALISED_FAMILIES = {"lstm": ("recurrent", "lstm"), "gru": ("recurrent", "gru"),
                       "rnn": ("recurrent", "rnn"), "transformer": ("transformer", None)}


def train_frames(
    benchmark: Annotated[Path, typer.Argument(
        help="Piano-roll benchmark: BL2012 .mat (JSB_Chorales, Nottingham, ...), JSB .json, "
             "or a folder from `prepare --rolls`.", exists=True)],
    out: Annotated[Path, typer.Option(help="Run folder (checkpoints; resumed if present).")],
    family: Annotated[str, typer.Option(
        help="rnn-nade, lstm-vae or gru-seq2seq; or a token family (lstm, gru, rnn, "
             "transformer) on the rolls serialised as event tokens.")] = "rnn-nade",
    model_config: Annotated[str, typer.Option(
        help='The family\'s config as JSON, e.g. \'{"hidden": 512}\'.')] = "{}",
    epochs: Annotated[int, typer.Option(
        help="Most epochs (early stopping may end sooner).", min=1)] = 100,
    steps_per_epoch: Annotated[int, typer.Option(help="Optimiser steps per epoch.", min=1)] = 40,
    batch_size: Annotated[int, typer.Option(help="Crops per step.", min=1)] = 8,
    window: Annotated[int, typer.Option(
        help="Frames per training crop (tokens per window for a token family).", min=2)
    ] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 3e-3,
    transpose: Annotated[tuple[int, int], typer.Option(
        help="Random transposition range in semitones (0 0: none).")] = (-5, 6),
    patience: Annotated[int, typer.Option(
        help="Stop after this many epochs without a better valid NLL.", min=1)] = 12,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
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
        from antiphon.training.fit.loop import TrainConfig
        from antiphon.training.fit.token_pipeline import train_token_model_on_benchmark
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        config = TrainConfig(epochs=epochs, steps_per_epoch=steps_per_epoch,
                             batch_size=batch_size, window=window, lr=lr,
                             warmup_steps=60, transpose=transpose, patience=patience,
                             seed=seed, device=device)
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
    density = (f"; notes per frame: {metrics['test_note_density_sampled']:.2f} sampled, "
               f"{metrics['test_note_density_data']:.2f} in the data"
               if "test_note_density_sampled" in metrics else "")
    console.print(f"{family} on {benchmark.name}: test NLL {metrics['test_nll_per_frame']:.4f} "
                  f"nats/frame (per-key unigram {metrics['test_unigram_nll_per_frame']:.4f}, "
                  f"Markov {metrics['test_markov_nll_per_frame']:.4f}){density}; best "
                  f"checkpoint {out / 'best.pt'}")


def bridge(
    phrase_a: Annotated[Path, typer.Argument(help="Where the bridge starts (.mid).",
                                             exists=True, dir_okay=False)],
    phrase_b: Annotated[Path, typer.Argument(help="Where it ends (.mid).", exists=True,
                                             dir_okay=False)],
    checkpoint: Annotated[Path, typer.Option(help="An LSTM-VAE checkpoint (best.pt).",
                                             exists=True, dir_okay=False)],
    steps: Annotated[int, typer.Option(help="Phrases from A to B, both included.", min=2)] = 5,
    temperature: Annotated[float, typer.Option(
        help="Sampling temperature of the decoder: <1 safer, >1 wilder.", min=0.01)] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    output: Annotated[Path, typer.Option("--output", "-o", help="The .mid to write.",
                                         dir_okay=False)]
        = Path("bridge.mid"),
) -> None:
    """Interpolate between two phrases in an LSTM-VAE's latent space; writes a .mid."""
    setup_logging("warning")
    try:
        from antiphon.training.bridge import bridge as make_bridge
        from antiphon.training.bridge import write_events
    except ImportError as err:
        fail(f"bridging needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        events, _ = make_bridge(checkpoint, phrase_a, phrase_b, steps, temperature, seed)
        write_events(output, events)
    except (OSError, ValueError, EOFError, KeyError, IndexError) as err:
        fail(str(err))
    notes = sum(1 for event in events if event.velocity)
    console.print(f"wrote {output}: {steps} phrases from {phrase_a.name} to {phrase_b.name}, "
                  f"{notes} notes")


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
        help="Most epochs (early stopping may end sooner).", min=1)] = 20,
    steps_per_epoch: Annotated[int, typer.Option(help="Optimiser steps per epoch.", min=1)] = 200,
    batch_size: Annotated[int, typer.Option(help="Windows per step.", min=1)] = 32,
    window: Annotated[int, typer.Option(help="Steps (16ths or notes) per window.", min=2)]
        = 128,
    workers: Annotated[int | None, typer.Option(help="Processes for parsing scores.")] = None,
    limit: Annotated[int | None, typer.Option(help="Pieces per source (quick runs).", min=1)]
        = None,
) -> None:
    """Train one of the small melody models; prints its test figures beside baselines."""
    setup_logging("info")
    try:
        from antiphon.training.fit.loop import TrainConfig
        from antiphon.training.fit.small_pipeline import KINDS
        from antiphon.training.fit.small_pipeline import train_small as run
    except ImportError as err:
        fail(f"training needs the train extra: pip install 'antiphon[train]' ({err})")
    if kind not in KINDS:
        fail(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", USAGE_ERROR)
    sources = corpus if corpus is not None else ([] if midi_dir else ["essenFolksong"])
    config = TrainConfig(epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                         window=window, lr=3e-3, warmup_steps=100, transpose=(0, 0),
                         patience=4)
    try:
        metrics = run(kind, out, sources, midi_dir or [], {}, config, workers, limit)
    except (OSError, ValueError) as err:
        fail(str(err))
    if not metrics:
        return  # a torchrun worker: rank 0 reports
    shown = {key: value for key, value in metrics.items()
             if key.startswith("test_") and isinstance(value, float)}
    console.print(f"{kind}: " + ", ".join(f"{key} {value:.4f}" for key, value in shown.items()))


def _prepare_rolls(corpus: list[str], midi_dir: Path | None, out: Path,
                   workers: int | None) -> dict:
    from antiphon.training.data.corpus_rolls import corpus_rolls
    from antiphon.training.data.prepared import prepare_midi_folder, write_prepared_rolls

    if midi_dir is not None:
        return prepare_midi_folder(midi_dir, out, workers, rolls=True)
    rolls, summary = corpus_rolls(corpus, [], workers)
    return write_prepared_rolls(rolls, "+".join(corpus), out,
                                summary["events_outside_the_keys"])


def prepare(
    midi_dir: Annotated[Path | None, typer.Argument(
        help="Folder of .mid files (searched recursively).", file_okay=False, exists=True)
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the token arrays.", file_okay=False)]
        = Path("prepared"),
    corpus: Annotated[list[str] | None, typer.Option(
        help="music21 corpora instead of a folder (repeatable; parsed once, cached).")
    ] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes reading files. \\[default: all cores]", min=1)] = None,
    rolls: Annotated[bool, typer.Option(
        help="Write piano rolls (16th-note frames, 88 keys) instead of tokens: a benchmark "
             "for `train-frames` and `eval --benchmark`.")] = False,
) -> None:
    """Tokenise a MIDI folder (or music21 corpora) into memory-mapped arrays for
    `antiphon train --data`; or, with --rolls, into piano rolls for `train-frames`."""
    setup_logging("info")
    if (midi_dir is None) == (not corpus):
        fail("give a MIDI folder or --corpus (one of the two)", USAGE_ERROR)
    try:
        from antiphon.engine.codec import EventCodec
        from antiphon.training.data.prepared import prepare_midi_folder, write_prepared
        from antiphon.training.fit.token_pipeline import prepare_splits
    except ImportError as err:
        fail(f"preparing needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        if rolls:
            summary = _prepare_rolls(corpus or [], midi_dir, out, workers)
            console.print(f"wrote {out}: pieces {summary['pieces']}, 16th-note frames "
                          f"{summary['frames']}, {summary.get('duplicates', 0)} duplicates "
                          f"and {len(summary.get('skipped', {}))} unreadable files skipped")
            return
        if midi_dir is not None:
            summary = prepare_midi_folder(midi_dir, out, workers)
        else:
            splits, data = prepare_splits(corpus, [], EventCodec(), workers)
            summary = write_prepared(splits, "+".join(corpus), out)
    except (OSError, ValueError) as err:
        fail(str(err))
    console.print(f"wrote {out}: {summary['files']} files, pieces {summary['pieces']}, "
                  f"tokens {summary['tokens']}, {summary['duplicates']} duplicates and "
                  f"{len(summary['skipped'])} unreadable files skipped")
