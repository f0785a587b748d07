"""The `antiphon` command line (typer). Thin: parse options, call the daemon, show results.

Each command is one function. Those that need torch (`train`, `export`, `eval`) live in
training.py and import it inside their bodies, so `antiphon run` never loads torch.
Errors the user can fix (a bad option, a missing port or model) end in one red line and a
non-zero exit: 2 for a bad option, 1 for anything else.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from antiphon.daemon.cli.answers_eval import eval_answers
from antiphon.daemon.cli.bench import bench
from antiphon.daemon.cli.config_command import config_app
from antiphon.daemon.cli.continue_command import continue_call
from antiphon.daemon.cli.control import model_command, reload, set_option, status_command
from antiphon.daemon.cli.critic_command import eval_critic, train_critic
from antiphon.daemon.cli.eval_group import DEFAULT_COMMAND, eval_app
from antiphon.daemon.cli.exit_status import FORCED_EXIT
from antiphon.daemon.cli.key_eval import eval_keys
from antiphon.daemon.cli.knobs_command import knobs, learn
from antiphon.daemon.cli.options import (
    DEFAULTS,
    BackendOption,
    BpmOption,
    ConfigOption,
    DeviceOption,
    ModelOption,
    SeedOption,
    TemperatureOption,
    TopPOption,
    read_config,
)
from antiphon.daemon.cli.panic import panic
from antiphon.daemon.cli.run_command import run
from antiphon.daemon.cli.service import service_app
from antiphon.daemon.cli.sessions_command import sessions_app
from antiphon.daemon.cli.shared import (
    USAGE_ERROR,
    console,
    fail,
    setup_logging,
)
from antiphon.daemon.cli.training import (
    bridge,
    evaluate,
    export,
    prepare,
    train,
    train_frames,
    train_small,
)

app = typer.Typer(
    name="antiphon",
    help="Antiphon: a real-time MIDI improviser. Play a phrase; it listens, then answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(run)  # first in the help: the command a musician comes for
app.command(name="continue")(continue_call)  # the same answers, offline, from a .mid file

def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        console.print(f"antiphon {version('antiphon')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", help="Print Antiphon's version and exit.", callback=_print_version,
        is_eager=True)] = False,
) -> None:
    """Antiphon: a real-time MIDI improviser. Play a phrase; it listens, then answers."""


@app.command()
def ports(backend: BackendOption = None) -> None:
    """List the MIDI inputs and outputs Antiphon can use."""
    from antiphon.daemon.midi.backends import resolve_backend
    from antiphon.daemon.midi.ports import list_ports

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
    top_p: TopPOption = None,
    seed: SeedOption = None,
    log_level: Annotated[str, typer.Option(
        help="debug, info, warning or error. \\[default: warning]", show_default=False,
    )] = "warning",
) -> None:
    """Play a built-in two-bar phrase into Antiphon, record its answer, summarise it."""
    options = read_config(config, {
        "backend": backend, "model": model, "device": device, "bpm": bpm,
        "temperature": temperature, "top_p": top_p, "seed": seed, "log_level": log_level,
    })
    setup_logging(options.log_level)
    from antiphon.daemon.cli.demo import TRANSPORTS, choose_transport, run_demo
    from antiphon.daemon.cli.demo_report import render_summary
    from antiphon.daemon.service.signals import (
        ForcedShutdown,
        capture_signals,
        ignore_stop_signals,
    )
    from antiphon.daemon.service.startup import load_session

    if transport not in TRANSPORTS:
        fail(f"--transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}", USAGE_ERROR)
    try:
        chosen = choose_transport(transport, options.backend)
        with console.status("loading the model"):
            session = load_session(options)
        # No spinner while the music plays: its redraws would compete for the GIL.
        console.print("playing a two-bar call and listening for the answer...")
        # A stop signal ends the demo as its end does: every note released.
        with capture_signals(hold_after_stop=True) as shutdown:
            result = run_demo(options, session, chosen, output, stop=shutdown.requested)
    except (OSError, ValueError) as err:
        fail(str(err))
    except ForcedShutdown as err:
        ignore_stop_signals()
        fail(f"{err}; the notes were released", FORCED_EXIT)
    if shutdown.requested.is_set():
        ignore_stop_signals()
        fail("stopped by a signal before the answer ended; the notes were released",
             FORCED_EXIT)
    render_summary(result, console)
    if not result.answer:
        fail("no answer came back")


@app.command()
def models() -> None:
    """List the models --model can name, yours (`antiphon export --name`) before the
    shipped ones, and what their cards say."""
    from antiphon.daemon.config.models import all_models
    from antiphon.daemon.config.paths import user_models_dir
    from antiphon.engine.card import ModelLoadError
    from antiphon.engine.model import StepModel

    table = Table(title="Models (--model NAME)", title_justify="left",
                  caption=f"your models live in {escape(str(user_models_dir()))}",
                  caption_justify="left")
    for column in ("name", "kind", "family", "representation", "held-out NLL", "description"):
        table.add_column(column)
    named: set[str] = set()
    for model in all_models():
        kind = "shipped" if model.shipped else "yours"
        if model.name in named:
            kind += " [dim](hidden by yours)[/]"  # --model NAME picks the user's, listed first
        named.add(model.name)
        try:
            card = StepModel(model.path, device="cpu").card
        except ModelLoadError as err:
            table.add_row(model.name, kind, "[red]unreadable[/]", "", "", escape(str(err)))
            continue
        unit = "frame" if card.representation == "pianoroll" else "token"
        nll = card.metrics.get(f"test_nll_per_{unit}")
        table.add_row(model.name, kind, card.family,
                      f"{card.representation} v{card.representation_version}",
                      "" if nll is None else f"{nll:.3f} nats/{unit}", escape(card.description))
    console.print(table)


# Commands that need the `train` extra live in training.py.
app.command()(train)
app.command()(export)
app.command()(prepare)
app.command(name="train-frames")(train_frames)
app.command(name="train-small")(train_small)
app.command()(bridge)
app.command(name="train-critic")(train_critic)
eval_app.command(name=DEFAULT_COMMAND)(evaluate)  # the default: `antiphon eval MODEL...`
eval_app.command(name="answers")(eval_answers)
eval_app.command(name="critic")(eval_critic)
eval_app.command(name="keys")(eval_keys)  # also `antiphon eval-keys`, as it was first
app.add_typer(eval_app, name="eval")
app.command(name="eval-keys")(eval_keys)
app.command()(bench)
app.command()(panic)
app.add_typer(service_app, name="service")
app.add_typer(sessions_app, name="sessions")  # the recorded takes
# Steering a running daemon through its control socket.
app.command(name="status")(status_command)
# A value may be negative (`set lowest-pitch -1` is refused by the daemon, not the parser).
app.command(name="set", context_settings={"ignore_unknown_options": True})(set_option)
app.command(name="model")(model_command)
app.command()(reload)
app.command()(learn)
app.command()(knobs)
app.add_typer(config_app, name="config")


if __name__ == "__main__":
    app()
