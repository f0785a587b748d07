"""`antiphon continue CALL.mid -o OUT.mid`: answer a MIDI file offline, as `antiphon run`
would answer it played live: the same model and session, the same rules and settings
(a config file and ANTIPHON_ variables included), the answer on the beat grid where the
call ends. Magenta Studio's Continue is the model of the interface: 1-8 variations, a
length, a temperature; each variation on a track of its own.

Runtime only: onnxruntime, numpy and mido, never torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.offline_answers import answer_settings
from antiphon.daemon.cli.options import (
    NUMBER,
    CandidatesOption,
    ConfigOption,
    DeviceOption,
    ModelOption,
    SeedOption,
    TemperatureOption,
    TextureOption,
    TopPOption,
    default_note,
    read_config,
)
from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail, setup_logging

MAX_VARIATIONS = 8  # as Magenta Studio's Continue
MAX_BARS = 32


def continue_call(
    call_file: Annotated[Path, typer.Argument(
        help="The call: a .mid file (its tracks merged; drums on channel 10 left out).",
        metavar="CALL.mid", show_default=False)],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write the call and its answers (.mid).",
        metavar="OUT.mid", show_default=False)],
    bars: Annotated[int | None, typer.Option(
        help=f"Length of each answer, in bars (1-{MAX_BARS}) of the file's time signature. "
             "\\[default: about the call's length, as live: min/max_answer_beats]",
        show_default=False)] = None,
    variations: Annotated[int, typer.Option(
        help=f"How many answers (1-{MAX_VARIATIONS}), each on a track of its own.")] = 1,
    model: ModelOption = None,
    device: DeviceOption = None,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    seed: SeedOption = None,
    scale: Annotated[str | None, typer.Option(
        help="Keep answers in a scale: 'D dorian', 'Bb major', ...; auto: the call's key and "
             f"range; chromatic: any pitch. {default_note('scale')}")] = None,
    bpm: Annotated[float | None, typer.Option(
        **NUMBER,
        help="Tempo written to OUT.mid. \\[default: the call file's, else 120]")] = None,
    channel: Annotated[int | None, typer.Option(
        help=f"MIDI channel of the answers, 1-16. {default_note('channel')}")] = None,
    max_polyphony: Annotated[int | None, typer.Option(
        help="Most answer notes sounding at once. \\[default: no limit]")] = None,
    texture: TextureOption = None,
    candidates: CandidatesOption = None,
    answer_on: Annotated[str | None, typer.Option(
        help="Where the answer starts: beat (the first beat at or after the call's last "
             "note ends) or bar (the first downbeat). "
             f"{default_note('answer_on')}")] = None,
    picture: Annotated[bool, typer.Option(
        "--picture", help="Also draw OUT.png beside OUT.mid: the call and its first answer "
        "as a piano roll, as `antiphon sessions show` draws a take.")] = False,
    config: ConfigOption = None,
) -> None:
    """Answer a MIDI file offline, as `antiphon run` answers a call: write the call and
    each answer (a variation) to OUT.mid, the answers starting where the call ends."""
    if not 1 <= variations <= MAX_VARIATIONS:
        fail(f"--variations must be 1-{MAX_VARIATIONS}, got {variations}", USAGE_ERROR)
    if bars is not None and not 1 <= bars <= MAX_BARS:
        fail(f"--bars must be 1-{MAX_BARS}, got {bars}", USAGE_ERROR)
    options = read_config(config, {
        "model": model, "device": device, "temperature": temperature, "top_p": top_p,
        "seed": seed, "scale": scale, "bpm": bpm, "channel": channel,
        "max_polyphony": max_polyphony, "texture": texture,
        "candidates": candidates, "answer_on": answer_on,
    })
    setup_logging("warning")
    from antiphon.daemon.cli.continue_files import (
        CallFileError,
        check_writable,
        read_call,
        roll_notes,
        write_continuation,
    )
    from antiphon.daemon.play.continuation import new_session, sample_answer
    from antiphon.daemon.play.interaction import answer_length, next_grid_point
    from antiphon.daemon.service.startup import resolve_model_path
    from antiphon.engine.events import TICKS_PER_BEAT
    from antiphon.engine.model import StepModel

    try:
        call = read_call(call_file)
        check_writable(output)
    except (CallFileError, OSError) as err:
        fail(str(err))
    settings = answer_settings(options)
    policy = settings.policy
    grid = call.beats_per_bar if options.answer_on == "bar" else policy.grid_beats
    call_beats = (call.last_activity - call.first_strike) / TICKS_PER_BEAT
    length = answer_length(call_beats, policy) if bars is None else bars * call.beats_per_bar
    origin_beats = call.origin_ticks / TICKS_PER_BEAT  # the file's beat of session tick 0
    start = next_grid_point(call.last_activity / TICKS_PER_BEAT + origin_beats, grid)
    start_tick = round((start - origin_beats) * TICKS_PER_BEAT)
    try:
        with console.status("loading the model"):
            step_model = StepModel(resolve_model_path(options.model), device=options.device)
        answers = []
        for variation in range(variations):
            session = new_session(step_model, options.seed, variation)
            events, chosen = sample_answer(session, call.events, start_tick,
                                           round(length * TICKS_PER_BEAT), settings)
            answers.append(events)
            strikes = sum(1 for event in events if event.velocity)
            console.print(f"answer {variation + 1}: {strikes} notes; keeps to {chosen}",
                          highlight=False, soft_wrap=True)
        tempo = bpm if bpm is not None else (call.bpm or options.bpm)
        write_continuation(output, call, answers, settings.channel,
                           None if bpm is None and call.tempos else tempo)
        if picture:
            from antiphon.daemon.record.roll_picture import draw_roll

            drawn = output.with_suffix(".png")
            draw_roll(roll_notes(call.events, call.origin_ticks),
                      roll_notes(answers[0], call.origin_ticks), drawn,
                      beats_per_bar=round(call.beats_per_bar), title=call_file.name)
            console.print(f"drew the call and its first answer in {drawn}", highlight=False,
                          soft_wrap=True)
    except (OSError, ValueError) as err:
        fail(str(err))
    console.print(f"{call.notes} call notes answered from beat {start:g} for {length:g} "
                  f"beats at {tempo:g} BPM; wrote {output}", highlight=False, soft_wrap=True)
