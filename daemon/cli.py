"""The `antiphon` command line (typer). Thin: parse options, call the daemon, show results.

Each command is one function; one that needs torch (`train`, `export`, `eval`) imports
what it needs inside its body, so `antiphon run` never loads torch.
Errors the user can fix (a bad option, a missing port or model) end in one red line and a
non-zero exit: 2 for a bad option, 1 for anything else.
"""

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from antiphon.daemon.config import BACKEND_NAMES, ConfigError, DaemonConfig, load_config

app = typer.Typer(
    name="antiphon",
    help="Antiphon: a real-time MIDI improviser. Play a phrase; it listens, then answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
error_console = Console(stderr=True)

DEFAULTS = DaemonConfig()
USAGE_ERROR = 2
FORCED_EXIT = 130  # as a shell reports a process ended by Ctrl-C
DEFAULT_CORPORA = ("essenFolksong", "oneills1850", "bach")  # what the default model learnt
RECURRENT_DEFAULTS = {"cell": "lstm", "hidden": 512, "layers": 2, "embedding": 128,
                      "dropout": 0.2}


def _default(field_name: str) -> str:
    """The help text's default marker (escaped: rich would take [...] for markup)."""
    value = getattr(DEFAULTS, field_name)
    return f"\\[default: {value:g}]" if isinstance(value, float) else f"\\[default: {value}]"


def fail(message: str, code: int = 1) -> NoReturn:
    error_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def setup_logging(level: str) -> None:
    """Log to stderr: rich when a person watches, plain lines for a service's journal."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=error_console, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def _config(config_file: Path | None, overrides: dict) -> DaemonConfig:
    try:
        return load_config(config_file, os.environ, overrides)
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)


# Options shared by `run` and `demo`; their help shows the DaemonConfig default.
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="TOML file with options (keys named like the long options, e.g. bpm).",
    dir_okay=False)]
BackendOption = Annotated[str | None, typer.Option(
    help=f"MIDI system: {', '.join(BACKEND_NAMES)}. {_default('backend')}")]
ModelOption = Annotated[str | None, typer.Option(
    help="Model: an .onnx file or a shipped model's name. \\[default: the shipped default]")]
DeviceOption = Annotated[str | None, typer.Option(
    help=f"Run the model on: auto, cpu, cuda. {_default('device')}")]
BpmOption = Annotated[float | None, typer.Option(
    help=f"Tempo in beats per minute. {_default('bpm')}")]
TemperatureOption = Annotated[float | None, typer.Option(
    help=f"Sampling temperature: <1 safer, >1 wilder. {_default('temperature')}")]
SeedOption = Annotated[int | None, typer.Option(
    help="Random seed, for repeatable answers. \\[default: none]")]
LogLevelOption = Annotated[str | None, typer.Option(
    help=f"debug, info, warning or error. {_default('log_level')}")]


@app.command()
def ports(backend: BackendOption = None) -> None:
    """List the MIDI inputs and outputs Antiphon can use."""
    from antiphon.daemon.ports import list_ports, resolve_backend

    try:
        listing = list_ports(resolve_backend(backend or DEFAULTS.backend))
    except ValueError as err:
        fail(str(err), USAGE_ERROR)
    except OSError as err:
        fail(str(err))
    for title, names in (("Inputs (--in)", listing.inputs), ("Outputs (--out)", listing.outputs)):
        table = Table(title=f"{title}, {listing.backend}", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("port")
        for index, name in enumerate(names):
            table.add_row(str(index), escape(name))
        if not names:
            table.add_row("", "[dim]none[/]")
        console.print(table)


@app.command()
def run(
    config: ConfigOption = None,
    in_port: Annotated[str | None, typer.Option(
        "--in", "--in-port",
        help="Input port (name or part of it). \\[default: the first hardware input, else a "
             "virtual port 'Antiphon In']")] = None,
    out_port: Annotated[str | None, typer.Option(
        "--out", "--out-port",
        help="Output port (name or part of it). \\[default: a virtual port 'Antiphon Out']",
    )] = None,
    backend: BackendOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    bpm: BpmOption = None,
    silence_beats: Annotated[float | None, typer.Option(
        help=f"Silence that ends a call, in beats. {_default('silence_beats')}")] = None,
    min_answer_beats: Annotated[float | None, typer.Option(
        help=f"Shortest answer, in beats. {_default('min_answer_beats')}")] = None,
    max_answer_beats: Annotated[float | None, typer.Option(
        help=f"Longest answer, in beats. {_default('max_answer_beats')}")] = None,
    grid_beats: Annotated[float | None, typer.Option(
        help=f"Answers start on multiples of this many beats. {_default('grid_beats')}"
    )] = None,
    temperature: TemperatureOption = None,
    max_opening_rest_beats: Annotated[float | None, typer.Option(
        help="Longest rest before an answer's first note, in beats. "
             f"{_default('max_opening_rest_beats')}")] = None,
    channel: Annotated[int | None, typer.Option(
        help=f"MIDI channel of the answer, 1-16. {_default('channel')}")] = None,
    seed: SeedOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Listen on a MIDI input and answer each phrase on a MIDI output, until Ctrl-C.

    Options also come from --config (TOML) and ANTIPHON_<OPTION> variables (ANTIPHON_BPM=90).

    Precedence: the command line, then the environment, then the file, then the defaults.
    """
    options = _config(config, {
        "in_port": in_port, "out_port": out_port, "backend": backend, "model": model,
        "device": device, "bpm": bpm, "silence_beats": silence_beats,
        "min_answer_beats": min_answer_beats, "max_answer_beats": max_answer_beats,
        "grid_beats": grid_beats, "temperature": temperature,
        "max_opening_rest_beats": max_opening_rest_beats, "channel": channel, "seed": seed,
        "log_level": log_level,
    })
    setup_logging(options.log_level)
    from antiphon.daemon.service import run_daemon
    from antiphon.daemon.signals import ForcedShutdown

    try:
        status = run_daemon(options)
    except ForcedShutdown as err:
        error_console.print(f"[yellow]{escape(str(err))}[/]")
        raise typer.Exit(FORCED_EXIT) from None
    except (OSError, ValueError) as err:
        fail(str(err))
    raise typer.Exit(status)


@app.command()
def demo(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write the call and the answer (.mid).", dir_okay=False,
    )] = Path("demo-output/antiphon-demo.mid"),
    transport: Annotated[str, typer.Option(
        help="auto: real MIDI ports when the system has them, else in-process loopback; "
             "midi: insist on real ports; loopback.")] = "auto",
    config: ConfigOption = None,
    backend: BackendOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    bpm: BpmOption = None,
    temperature: TemperatureOption = None,
    seed: SeedOption = None,
    log_level: LogLevelOption = "warning",
) -> None:
    """Play a built-in two-bar phrase into Antiphon, record its answer, summarise it."""
    options = _config(config, {
        "backend": backend, "model": model, "device": device, "bpm": bpm,
        "temperature": temperature, "seed": seed, "log_level": log_level,
    })
    setup_logging(options.log_level)
    from antiphon.daemon.demo import TRANSPORTS, choose_transport, run_demo
    from antiphon.daemon.demo_report import render_summary
    from antiphon.daemon.service import load_session

    if transport not in TRANSPORTS:
        fail(f"--transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}", USAGE_ERROR)
    try:
        chosen = choose_transport(transport, options.backend)
        with console.status("loading the model"):
            session = load_session(options)
        # No spinner while the music plays: its redraws would compete for the GIL.
        console.print("playing a two-bar call and listening for the answer...")
        result = run_demo(options, session, chosen, output)
    except (OSError, ValueError) as err:
        fail(str(err))
    render_summary(result, console)
    if not result.answer:
        fail("no answer came back")


@app.command()
def models() -> None:
    """List the shipped models and what their cards say."""
    from antiphon.engine.card import ModelLoadError
    from antiphon.engine.model import StepModel
    from antiphon.exported_models import available_models, model_path

    table = Table(title="Shipped models (--model NAME)", title_justify="left")
    for column in ("name", "family", "representation", "held-out NLL", "description"):
        table.add_column(column)
    for name in available_models():
        try:
            card = StepModel(model_path(name), device="cpu").card
        except ModelLoadError as err:
            table.add_row(name, "[red]unreadable[/]", "", "", escape(str(err)))
            continue
        nll = card.metrics.get("test_nll_per_token")
        table.add_row(name, card.family, f"{card.representation} v{card.representation_version}",
                      "" if nll is None else f"{nll:.3f} nats/token", escape(card.description))
    console.print(table)


@app.command()
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


@app.command()
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


@app.command(name="eval")
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


if __name__ == "__main__":
    app()
