"""`antiphon export`, `antiphon eval MODEL...` (`eval models`, the eval group's default)
and `antiphon bridge`: the commands that take a trained model, to ship it, score it, or
walk an LSTM-VAE's latent space.

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


def export(
    checkpoint: Annotated[Path, typer.Argument(
        metavar="SOURCE",
        help="A checkpoint (best.pt) from `antiphon train`, or an exported step graph "
             "(.onnx) to copy at another --precision.", exists=True, dir_okay=False)],
    out: Annotated[Path | None, typer.Option(
        help="The .onnx file to write. \\[default: NAME.onnx in your models folder with "
             "--name, else model.onnx here]", dir_okay=False)] = None,
    name: Annotated[str, typer.Option(
        help="The model's name: `--model NAME` plays it, `antiphon models` lists it.")] = "",
    description: Annotated[str, typer.Option(help="One line for `antiphon models`.")] = "",
    precision: Annotated[str, typer.Option(
        help="How the weights are stored: float32, or int8 (a quarter of the bytes, so a "
             "faster step; written only if it costs at most 0.01 nats of NLL on the "
             "model's own samples).")] = "float32",
) -> None:
    """Export a checkpoint as an ONNX step graph with its model card, checked against torch;
    or copy an exported graph with its weights in int8 (`antiphon export MODEL.onnx
    --precision int8 --out MODEL-int8.onnx`; its card comes along, renamed by --name).

    With --name and no --out, the model goes into your models folder
    (~/.local/share/antiphon/models on Linux), where --model NAME finds it."""
    setup_logging("warning")
    from antiphon.daemon.config.paths import user_models_dir
    from antiphon.engine.card import PRECISIONS

    if name and (Path(name).name != name or name.startswith(".")):
        fail(f"--name must be a plain file name (no folders, no leading dot), got {name!r}",
             USAGE_ERROR)
    if precision not in PRECISIONS:
        fail(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}",
             USAGE_ERROR)
    from_graph = checkpoint.suffix == ".onnx"
    if from_graph and precision == "float32":
        fail(f"{checkpoint} is already an exported graph: give --precision int8 to copy it "
             "in int8", USAGE_ERROR)
    if out is None:
        out = user_models_dir() / f"{name}.onnx" if name else Path("model.onnx")
    if from_graph and out.resolve() == checkpoint.resolve():
        fail("--out must not be the source graph itself", USAGE_ERROR)
    try:  # copying a graph needs onnx and onnxruntime's quantiser; exporting, torch too
        from antiphon.training.quantize import QuantiseError, quantise_step_graph

        errors: tuple[type[Exception], ...] = (OSError, ValueError, QuantiseError)
        if not from_graph:
            from antiphon.training.commands import run_export
            from antiphon.training.export import ExportError

            errors += (ExportError,)
    except ImportError as err:
        fail(f"exporting needs the train extra: pip install 'antiphon[train]' ({err})")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if from_graph:
            source = checkpoint
        else:
            float_out = out if precision == "float32" else out.with_suffix(".float32.tmp.onnx")
            run_export(console, checkpoint, float_out, name or out.stem, description,
                       "" if float_out == out else "the float32 graph")
            source = float_out
        if precision == "int8":
            try:
                card, gap = quantise_step_graph(source, out, name=name,
                                                description=description)
            finally:
                if source != checkpoint:
                    source.unlink(missing_ok=True)
            unit = "frame" if card.representation == "pianoroll" else "token"
            console.print(f"wrote {out}: {card.name}, weights int8; NLL on {gap.steps} of its "
                          f"own samples {gap.source:.4f} -> {gap.copy:.4f} nats/{unit} "
                          f"({gap.gap:+.4f})")
    except errors as err:
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
