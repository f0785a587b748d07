"""The `antiphon` command line (typer). Thin: parse options, call the daemon, show results.

Each command is one function. Those that need torch (`train`, `export`, `eval`) live in
training.py and import it inside their bodies, so `antiphon run` never loads torch.
Errors the user can fix (a bad option, a missing port or model) end in one red line and a
non-zero exit: 2 for a bad option, 1 for anything else.
"""

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from antiphon.daemon.cli.bench import bench
from antiphon.daemon.cli.config_command import config_app
from antiphon.daemon.cli.control import model_command, reload, set_option, status_command
from antiphon.daemon.cli.panic import panic
from antiphon.daemon.cli.service import service_app
from antiphon.daemon.cli.shared import (
    USAGE_ERROR,
    console,
    error_console,
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
from antiphon.daemon.midi.backends import BACKEND_NAMES
from antiphon.daemon.service.config import ConfigError, DaemonConfig
from antiphon.daemon.service.config_loading import load_config

app = typer.Typer(
    name="antiphon",
    help="Antiphon: a real-time MIDI improviser. Play a phrase; it listens, then answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEFAULTS = DaemonConfig()
FORCED_EXIT = 130  # as a shell reports a process ended by Ctrl-C


def _default(field_name: str) -> str:
    """The help text's default marker (escaped: rich would take [...] for markup)."""
    value = getattr(DEFAULTS, field_name)
    return f"\\[default: {value:g}]" if isinstance(value, float) else f"\\[default: {value}]"


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
TopPOption = Annotated[float | None, typer.Option(
    help="Sample among the likeliest events holding this much probability (0-1]. "
         f"{_default('top_p')}")]
SeedOption = Annotated[int | None, typer.Option(
    help="Random seed, for repeatable answers. \\[default: none]")]
LogLevelOption = Annotated[str | None, typer.Option(
    help=f"debug, info, warning or error. {_default('log_level')}")]


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
    top_p: TopPOption = None,
    max_opening_rest_beats: Annotated[float | None, typer.Option(
        help="Longest rest before an answer's first note, in beats. "
             f"{_default('max_opening_rest_beats')}")] = None,
    scale: Annotated[str | None, typer.Option(
        help="Keep answers in a scale: 'D dorian', 'Bb major', 'A minor-pentatonic', ...; "
             "auto: the call's key (when it clearly has one) and range; chromatic: any pitch. "
             f"{_default('scale')}")] = None,
    lowest_pitch: Annotated[int | None, typer.Option(
        help=f"Lowest MIDI note an answer strikes. {_default('lowest_pitch')}")] = None,
    highest_pitch: Annotated[int | None, typer.Option(
        help=f"Highest MIDI note an answer strikes. {_default('highest_pitch')}")] = None,
    max_polyphony: Annotated[int | None, typer.Option(
        help="Most answer notes sounding at once. \\[default: no limit]")] = None,
    channel: Annotated[int | None, typer.Option(
        help=f"MIDI channel of the answer, 1-16. {_default('channel')}")] = None,
    seed: SeedOption = None,
    log_level: LogLevelOption = None,
    timing_trace: Annotated[Path | None, typer.Option(
        help="At exit, write every message received (when it arrived) and sent (when it was "
             "due, when it left) to this file (JSON lines). \\[default: none]",
        dir_okay=False)] = None,
    listen_channels: Annotated[str | None, typer.Option(
        help=f"MIDI channels to listen to, e.g. 1-9,11-16 or all. {_default('listen_channels')}"
    )] = None,
    max_hold_beats: Annotated[float | None, typer.Option(
        help="A key held longer than this (beats) no longer holds the call open. "
             f"{_default('max_hold_beats')}")] = None,
    reconnect_timeout: Annotated[float | None, typer.Option(
        help="Seconds to wait for a MIDI system that went away before exiting non-zero. "
             f"{_default('reconnect_timeout')}")] = None,
    panic_on_start: Annotated[bool | None, typer.Option(
        "--panic-on-start/--no-panic-on-start",
        help="Silence the output (all notes off, 16 channels) when it opens. "
             f"{_default('panic_on_start')}", show_default=False)] = None,
    clock: Annotated[str | None, typer.Option(
        help="Where the beat comes from: internal, or midi (MIDI clock on the input, as a DAW "
             f"sends it: tempo, beats and bars, Start / Stop). {_default('clock')}")] = None,
    answer_when_stopped: Annotated[bool | None, typer.Option(
        "--answer-when-stopped/--no-answer-when-stopped",
        help="With --clock midi: answer while the DAW is stopped too. "
             f"{_default('answer_when_stopped')}", show_default=False)] = None,
    thru: Annotated[bool | None, typer.Option(
        "--thru/--no-thru",
        help="MIDI thru: pass the player's notes on to the output, so one synth plays both. "
             f"{_default('thru')}", show_default=False)] = None,
    phrase_end: Annotated[str | None, typer.Option(
        help="What ends a call: silence, bars (--phrase-bars), pedal (the sustain pedal "
             f"lifted) or control (--end-cc / --end-note). {_default('phrase_end')}")] = None,
    phrase_bars: Annotated[int | None, typer.Option(
        help=f"With --phrase-end bars: bars (of 4 beats) per call. {_default('phrase_bars')}",
    )] = None,
    end_cc: Annotated[int | None, typer.Option(
        help="With --phrase-end control: a controller whose move to 64 or more ends the "
             "call. \\[default: none]")] = None,
    end_note: Annotated[int | None, typer.Option(
        help="With --phrase-end control: a key that ends the call. \\[default: none]",
    )] = None,
    program_models: Annotated[str | None, typer.Option(
        help="Models a program change selects, comma-separated (program 1 the first). "
             "\\[default: programs ignored]")] = None,
    panic_cc: Annotated[int | None, typer.Option(
        help="A controller whose move to 64 or more panics (all notes off). \\[default: none]",
    )] = None,
    panic_note: Annotated[int | None, typer.Option(
        help="A key (MIDI note) that panics instead of playing. \\[default: none]")] = None,
    control_socket: Annotated[Path | None, typer.Option(
        help=r"The control socket (antiphon status, set, model, reload). \[default: "
             "control.sock in $XDG_RUNTIME_DIR/antiphon]", dir_okay=False)] = None,
    osc_port: Annotated[int | None, typer.Option(
        help="Listen for Open Sound Control on this UDP port. \\[default: no OSC]")] = None,
    osc_host: Annotated[str | None, typer.Option(
        help=f"The address OSC listens on (0.0.0.0: the network). {_default('osc_host')}",
    )] = None,
) -> None:
    """Listen on a MIDI input and answer each phrase on a MIDI output, until Ctrl-C.

    Options also come from --config (TOML) and ANTIPHON_<OPTION> variables (ANTIPHON_BPM=90).

    Precedence: the command line, then the environment, then the file, then the defaults.
    """
    overrides = {
        "in_port": in_port, "out_port": out_port, "backend": backend, "model": model,
        "device": device, "bpm": bpm, "silence_beats": silence_beats,
        "min_answer_beats": min_answer_beats, "max_answer_beats": max_answer_beats,
        "grid_beats": grid_beats, "temperature": temperature, "top_p": top_p,
        "max_opening_rest_beats": max_opening_rest_beats, "scale": scale,
        "lowest_pitch": lowest_pitch, "highest_pitch": highest_pitch,
        "max_polyphony": max_polyphony, "channel": channel, "seed": seed,
        "log_level": log_level,
        "timing_trace": None if timing_trace is None else str(timing_trace),
        "listen_channels": listen_channels, "max_hold_beats": max_hold_beats,
        "reconnect_timeout": reconnect_timeout, "panic_on_start": panic_on_start,
        "control_socket": None if control_socket is None else str(control_socket),
        "osc_port": osc_port, "osc_host": osc_host, "thru": thru, "clock": clock,
        "answer_when_stopped": answer_when_stopped,
        "program_models": program_models, "panic_cc": panic_cc, "panic_note": panic_note,
        "phrase_end": phrase_end, "phrase_bars": phrase_bars, "end_cc": end_cc,
        "end_note": end_note,
    }
    setup_logging("warning")  # what reading the config warns of is a log line like any
    options = _config(config, overrides)
    setup_logging(options.log_level)
    from antiphon.daemon.service.daemon import run_daemon
    from antiphon.daemon.service.signals import ForcedShutdown, stop_was_forced

    try:
        # A reload reads the file and the environment again; the flags given still win.
        status = run_daemon(options, lambda: load_config(config, os.environ, overrides))
    except ForcedShutdown as err:
        error_console.print(f"[yellow]{escape(str(err))}[/]")
        raise typer.Exit(FORCED_EXIT) from None
    except (OSError, ValueError) as err:
        fail(str(err))
    # A second signal that came once the clean stop had already finished still asked to
    # force it: the status must not depend on how fast the stop was.
    raise typer.Exit(FORCED_EXIT if status == 0 and stop_was_forced() else status)


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
    options = _config(config, {
        "backend": backend, "model": model, "device": device, "bpm": bpm,
        "temperature": temperature, "top_p": top_p, "seed": seed, "log_level": log_level,
    })
    setup_logging(options.log_level)
    from antiphon.daemon.cli.demo import TRANSPORTS, choose_transport, run_demo
    from antiphon.daemon.cli.demo_report import render_summary
    from antiphon.daemon.service.daemon import load_session

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
    """List the models --model can name, yours (`antiphon export --name`) before the
    shipped ones, and what their cards say."""
    from antiphon.daemon.service.models import all_models
    from antiphon.daemon.service.paths import user_models_dir
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
app.command(name="eval")(evaluate)
app.command()(bench)
app.command()(panic)
app.add_typer(service_app, name="service")
# Steering a running daemon through its control socket.
app.command(name="status")(status_command)
# A value may be negative (`set lowest-pitch -1` is refused by the daemon, not the parser).
app.command(name="set", context_settings={"ignore_unknown_options": True})(set_option)
app.command(name="model")(model_command)
app.command()(reload)
app.add_typer(config_app, name="config")


if __name__ == "__main__":
    app()
