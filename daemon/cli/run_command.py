"""`antiphon run`: every option of the daemon as a flag, read into one DaemonConfig (file <
environment < flags), then the daemon serves until a stop signal."""

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from antiphon.daemon.cli.options import (
    FORCED_EXIT,
    NUMBER,
    BackendOption,
    BpmOption,
    CandidatesOption,
    ConfigOption,
    DeviceOption,
    LogLevelOption,
    ModelOption,
    SeedOption,
    TemperatureOption,
    TextureOption,
    TopPOption,
    default_note,
)
from antiphon.daemon.cli.shared import USAGE_ERROR, error_console, fail, setup_logging
from antiphon.daemon.config.daemon_config import ConfigError
from antiphon.daemon.config.loading import ConfigReader


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
        **NUMBER,
        help=f"Silence that ends a call, in beats. {default_note('silence_beats')}")] = None,
    min_answer_beats: Annotated[float | None, typer.Option(
        **NUMBER,
        help=f"Shortest answer, in beats. {default_note('min_answer_beats')}")] = None,
    max_answer_beats: Annotated[float | None, typer.Option(
        **NUMBER,
        help=f"Longest answer, in beats. {default_note('max_answer_beats')}")] = None,
    grid_beats: Annotated[float | None, typer.Option(
        **NUMBER,
        help=f"Answers start on multiples of this many beats. {default_note('grid_beats')}"
    )] = None,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    max_opening_rest_beats: Annotated[float | None, typer.Option(
        **NUMBER,
        help="Longest rest before an answer's first note, in beats. "
             f"{default_note('max_opening_rest_beats')}")] = None,
    scale: Annotated[str | None, typer.Option(
        help="Keep answers in a scale: 'D dorian', 'Bb major', 'A minor-pentatonic', ...; "
             "auto: the call's key (kept to when certain, else leaned toward: --key-bias) and "
             "range; chromatic: any pitch. "
             f"{default_note('scale')}")] = None,
    key_bias: Annotated[float | None, typer.Option(
        **NUMBER,
        help="With --scale auto, how strongly an answer leans toward the call's likely keys "
             "when none is certain (nothing masked); 0: no lean. "
             f"{default_note('key_bias')}")] = None,
    lowest_pitch: Annotated[int | None, typer.Option(
        help=f"Lowest MIDI note an answer strikes. {default_note('lowest_pitch')}")] = None,
    highest_pitch: Annotated[int | None, typer.Option(
        help=f"Highest MIDI note an answer strikes. {default_note('highest_pitch')}")] = None,
    max_polyphony: Annotated[int | None, typer.Option(
        help="Most answer notes sounding at once. \\[default: no limit]")] = None,
    texture: TextureOption = None,
    candidates: CandidatesOption = None,
    channel: Annotated[int | None, typer.Option(
        help=f"MIDI channel of the answer, 1-16. {default_note('channel')}")] = None,
    seed: SeedOption = None,
    log_level: LogLevelOption = None,
    timing_trace: Annotated[Path | None, typer.Option(
        help="At exit, write every message received (when it arrived) and sent (when it was "
             "due, when it left) to this file (JSON lines). \\[default: none]",
        dir_okay=False)] = None,
    listen_channels: Annotated[str | None, typer.Option(
        help=f"MIDI channels to listen to, e.g. 1-9,11-16 or all. {default_note('listen_channels')}"
    )] = None,
    max_hold_beats: Annotated[float | None, typer.Option(
        **NUMBER,
        help="A key held longer than this (beats) no longer holds the call open. "
             f"{default_note('max_hold_beats')}")] = None,
    reconnect_timeout: Annotated[float | None, typer.Option(
        **NUMBER,
        help="Seconds to wait for a MIDI system that went away before exiting non-zero. "
             f"{default_note('reconnect_timeout')}")] = None,
    panic_on_start: Annotated[bool | None, typer.Option(
        "--panic-on-start/--no-panic-on-start",
        help="Silence the output (all notes off, 16 channels) when it opens. "
             f"{default_note('panic_on_start')}", show_default=False)] = None,
    clock: Annotated[str | None, typer.Option(
        help="Where the beat comes from: internal; midi (MIDI clock, as a DAW sends it: "
             "tempo, beats and bars, Start / Stop); auto (internal until MIDI clock comes); "
             f"link (an Ableton Link session). {default_note('clock')}")] = None,
    clock_in: Annotated[str | None, typer.Option(
        help="Take the MIDI clock from this port (name or part of it). \\[default: the "
             "input]")] = None,
    clock_out: Annotated[str | None, typer.Option(
        help="Send MIDI clock (24 a beat, Start / Stop) to this port. \\[default: none]",
    )] = None,
    answer_on: Annotated[str | None, typer.Option(
        help="Where answers may start: beat (the --grid-beats grid) or bar (a downbeat). "
             f"{default_note('answer_on')}")] = None,
    answer_when_stopped: Annotated[bool | None, typer.Option(
        "--answer-when-stopped/--no-answer-when-stopped",
        help="With --clock midi: answer while the DAW is stopped too. "
             f"{default_note('answer_when_stopped')}", show_default=False)] = None,
    thru: Annotated[bool | None, typer.Option(
        "--thru/--no-thru",
        help="MIDI thru: pass the player's notes on to the output, so one synth plays both. "
             f"{default_note('thru')}", show_default=False)] = None,
    phrase_end: Annotated[str | None, typer.Option(
        help="What ends a call: silence, bars (--phrase-bars), pedal (the sustain pedal "
             f"lifted) or control (--end-cc / --end-note). {default_note('phrase_end')}")] = None,
    phrase_bars: Annotated[int | None, typer.Option(
        help=f"With --phrase-end bars: bars (of 4 beats) per call. {default_note('phrase_bars')}",
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
    cc_map: Annotated[str | None, typer.Option(
        help="Knobs that set live options: 'temperature=21:0.5..1.5, scale=23:C major|D "
             "dorian' (SETTING=CC:LOW..HIGH or A|B|C). \\[default: none]")] = None,
    cc_feedback: Annotated[bool | None, typer.Option(
        "--cc-feedback/--no-cc-feedback",
        help="Send a mapped setting's value back as its CC when it changes (LED rings). "
             f"{default_note('cc_feedback')}", show_default=False)] = None,
    knob_channel: Annotated[str | None, typer.Option(
        help="The channel the knobs (--cc-map, antiphon learn) listen on: 1-16, a list "
             "like 1-4, or all. \\[default: the lowest channel listened to]")] = None,
    control_socket: Annotated[Path | None, typer.Option(
        help=r"The control socket (antiphon status, set, model, reload). \[default: "
             "control.sock in $XDG_RUNTIME_DIR/antiphon]", dir_okay=False)] = None,
    osc_port: Annotated[int | None, typer.Option(
        help="Listen for Open Sound Control on this UDP port. \\[default: no OSC]")] = None,
    osc_host: Annotated[str | None, typer.Option(
        help=f"The address OSC listens on (0.0.0.0: the network). {default_note('osc_host')}",
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
        "max_opening_rest_beats": max_opening_rest_beats, "scale": scale, "key_bias": key_bias,
        "lowest_pitch": lowest_pitch, "highest_pitch": highest_pitch,
        "max_polyphony": max_polyphony, "texture": texture,
        "candidates": candidates, "channel": channel, "seed": seed,
        "log_level": log_level,
        "timing_trace": None if timing_trace is None else str(timing_trace),
        "listen_channels": listen_channels, "max_hold_beats": max_hold_beats,
        "reconnect_timeout": reconnect_timeout, "panic_on_start": panic_on_start,
        "control_socket": None if control_socket is None else str(control_socket),
        "osc_port": osc_port, "osc_host": osc_host, "thru": thru, "clock": clock,
        "clock_in": clock_in, "clock_out": clock_out, "answer_on": answer_on,
        "answer_when_stopped": answer_when_stopped,
        "program_models": program_models, "panic_cc": panic_cc, "panic_note": panic_note,
        "phrase_end": phrase_end, "phrase_bars": phrase_bars, "end_cc": end_cc,
        "end_note": end_note, "cc_map": cc_map, "cc_feedback": cc_feedback,
        "knob_channel": knob_channel,
    }
    setup_logging("warning")  # what reading the config warns of is a log line like any
    reader = ConfigReader(config, os.environ, overrides)
    try:
        options = reader()
    except ConfigError as err:
        fail(str(err), USAGE_ERROR)
    setup_logging(options.log_level)
    from antiphon.daemon.service.signals import (
        ForcedShutdown,
        ignore_stop_signals,
        stop_was_forced,
    )
    from antiphon.daemon.service.startup import run_daemon

    try:
        # A reload reads the file and the environment again; the flags given still win.
        status = run_daemon(options, reader)
    except ForcedShutdown as err:
        ignore_stop_signals()  # the notes are released: the rest of a burst changes nothing
        error_console.print(f"[yellow]{escape(str(err))}[/]")
        raise typer.Exit(FORCED_EXIT) from None
    except (OSError, ValueError) as err:
        fail(str(err))
    # A second signal that came once the clean stop had already finished still asked to
    # force it: the status must not depend on how fast the stop was.
    status = FORCED_EXIT if status == 0 and stop_was_forced() else status
    ignore_stop_signals()
    raise typer.Exit(status)
