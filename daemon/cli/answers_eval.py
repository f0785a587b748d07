"""`antiphon eval answers`: how a model's answers to held-out calls compare, measure by
measure, with the real continuations of the same calls (registered in app.py).

The calls are the first bars of test-split tunes (or of .mid files); each answer is
sampled where the tune goes on, as `antiphon continue` samples it (the same settings,
`offline_answers.answer_settings`). The measures are MusPy's where it has them, so the
training package is imported inside the command's body: muspy and music21 are the
`train` extra, and `antiphon run` must never load them.
"""

from __future__ import annotations

import itertools
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.offline_answers import answer_settings
from antiphon.daemon.cli.options import (
    ConfigOption,
    DeviceOption,
    TemperatureOption,
    TextureOption,
    TopPOption,
    default_note,
    read_config,
)
from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail, setup_logging
from antiphon.engine.constraints import MAX_CANDIDATES

DEFAULT_CALLS = 100
MAX_BARS = 4
EVAL_SEED = 0  # an evaluation is repeatable unless --seed or the config says otherwise


def eval_answers(
    model: Annotated[list[str] | None, typer.Option(
        help="Model: an .onnx file or a shipped model's name (repeatable: one table "
             "each). \\[default: the shipped default]")] = None,
    corpus: Annotated[list[str] | None, typer.Option(
        help="music21 collection whose test split gives the calls (repeatable; bach gives "
             "calls of chords). \\[default: essenFolksong, oneills1850, ryansMammoth, "
             "unless --midi-dir is given]")] = None,
    midi_dir: Annotated[list[Path] | None, typer.Option(
        help="Folder of .mid files, each a call (its first bars) and its continuation "
             "(the next bars) (repeatable).", file_okay=False, exists=True)] = None,
    calls: Annotated[int, typer.Option(
        help="Calls per collection or folder, spread evenly over it (a fixed choice).",
        min=1)] = DEFAULT_CALLS,
    bars: Annotated[int, typer.Option(
        help="Bars of each call, and of each continuation and answer (by the tune's time "
             "signature).", min=1, max=MAX_BARS)] = 2,
    device: DeviceOption = None,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    seed: Annotated[int | None, typer.Option(
        help=f"Random seed (each call its own stream of it). \\[default: {EVAL_SEED}]")] = None,
    scale: Annotated[str | None, typer.Option(
        help="Keep answers in a scale: 'D dorian', 'Bb major', ...; auto: the call's key and "
             f"range; chromatic: any pitch. {default_note('scale')}")] = None,
    max_polyphony: Annotated[int | None, typer.Option(
        help="Most answer notes sounding at once. \\[default: no limit]")] = None,
    texture: TextureOption = None,
    any_key: Annotated[bool, typer.Option(
        "--any-key", help="Move each call and its continuation into a key drawn at random "
                          "(-5..+6 semitones, seeded), as a player may call in any key: a "
                          "collection's tunes sit in a few keys, which makes any tune's "
                          "continuation sound like another's.")] = False,
    candidates: Annotated[list[int] | None, typer.Option(
        help=f"Answers drawn per call, the best kept, as `antiphon run` keeps it, 1-"
             f"{MAX_CANDIDATES} (repeatable: a table for each, to compare). "
             "\\[default: the config's]")] = None,
    config: ConfigOption = None,
    markdown: Annotated[Path | None, typer.Option(
        help="Also write the tables (markdown) here: between the <!-- eval:answers --> markers of "
             "a file that exists (docs/MODELS.md), the rest of it left as it is.",
        dir_okay=False)] = None,
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="Also write every call's values here.", dir_okay=False)] = None,
    picture: Annotated[Path | None, typer.Option(
        help="Also draw the measures' distributions here (.png).", dir_okay=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes for parsing scores. \\[default: all cores]", min=1)] = None,
) -> None:
    """Measure a model's answers to held-out calls beside the tunes' real continuations.

    Each call is the first bars of a test-split tune; its answer is sampled as `antiphon
    continue` samples one; MusPy's measures, the key and a relevance AUC put it beside
    the tune's next bars (needs the `train` extra)."""
    if picture is not None and picture.suffix.lower() != ".png":
        fail(f"--picture must name a .png file, got {str(picture)!r}", USAGE_ERROR)
    overrides = {
        "device": device, "temperature": temperature, "top_p": top_p, "seed": seed,
        "scale": scale, "max_polyphony": max_polyphony, "texture": texture,
    }
    for count in candidates or []:
        if not 1 <= count <= MAX_CANDIDATES:
            fail(f"--candidates must be 1-{MAX_CANDIDATES}, got {count}", USAGE_ERROR)
    options = read_config(config, overrides)
    setup_logging("warning")
    try:
        from antiphon.training.evaluation import answer_calls, answer_report
    except ImportError as err:
        fail(f"evaluating answers needs the train extra: pip install 'antiphon[train]' ({err})")
    from antiphon.daemon.cli.continue_files import check_writable
    from antiphon.daemon.service.startup import resolve_model_path
    from antiphon.engine.card import ModelLoadError
    from antiphon.exported_models import DEFAULT_MODEL

    names = model or [options.model or DEFAULT_MODEL]
    try:
        paths = [resolve_model_path(name) for name in names]
        for path in (markdown, json_file, picture):
            if path is not None:
                check_writable(path)
    except (OSError, ValueError) as err:
        fail(str(err))
    run_seed = EVAL_SEED if options.seed is None else options.seed
    settings = answer_settings(options)
    words = (f"temperature {settings.temperature:g}, top-p {settings.top_p:g}, "
             f"texture {options.texture}, scale {options.scale}, seed {run_seed}"
             + ("" if options.max_polyphony is None
                else f", max polyphony {options.max_polyphony}")
             + (", calls in any key" if any_key else ""))
    started = time.monotonic()
    pairs = []
    try:
        with console.status("reading the calls"):
            for folder in midi_dir or []:
                pairs += answer_calls.tune_pairs(midi_tunes(folder), f"midi:{folder.name}",
                                                 calls, bars)
            for name in corpus or ([] if midi_dir else answer_calls.DEFAULT_COLLECTIONS):
                pairs += answer_calls.collection_pairs(name, calls, bars, workers)
    except (OSError, ValueError) as err:
        fail(str(err))
    if not pairs:
        fail("no call to answer")
    if any_key:
        pairs = answer_calls.in_any_key(pairs, run_seed)
    results = []
    for (name, path), count in itertools.product(zip(names, paths, strict=True),
                                                 candidates or [settings.candidates]):
        drawn = replace(settings, candidates=count)
        try:
            with console.status(f"{name}: answering {len(pairs)} calls") as status:
                def progress(index: int, name: str = name, status=status) -> None:
                    status.update(f"{name}: answered {index + 1} of {len(pairs)} calls")

                answers = sample_answers(path, pairs, drawn, run_seed, options.device,
                                         progress)
        except (OSError, ValueError, ModelLoadError) as err:
            fail(f"{name}: {err}")
        kept = "one draw" if count == 1 else f"best of {count}"
        results.append(answer_report.score_model(name, f"{words}, {kept}", pairs, answers))
    command = command_line(model or [], corpus or [], midi_dir or [], calls, bars, {
        "--device": device, "--temperature": temperature, "--top-p": top_p, "--seed": seed,
        "--scale": scale, "--max-polyphony": max_polyphony, "--texture": texture,
        "--config": config}, candidates or [], any_key)
    passed = answer_report.print_tables(console, results)
    console.print(f"{len(pairs)} calls x {len(results)} models and settings in "
                  f"{time.monotonic() - started:.0f} s", highlight=False)
    try:
        if markdown is not None:
            link = None if picture is None else os.path.relpath(
                picture.resolve(), markdown.resolve().parent)
            write_tables(markdown, answer_report.markdown(results, command, link, any_key),
                         "answers-any-key" if any_key else "answers")
        if json_file is not None:
            answer_report.write_json(json_file, results, command)
        if picture is not None:
            answer_report.write_picture(picture, results, command)
    except OSError as err:
        fail(f"cannot write the report: {err}")
    if not passed:
        console.print("some checks failed (above)", style="yellow", highlight=False)


def command_line(models: list[str], corpora: list[str], folders: list[Path], calls: int,
                 bars: int, given: dict, candidates: list[int], any_key: bool = False,
                 ) -> str:
    """The command that measures what this one measured, written at the top of reports
    (the options that choose the calls and the answers; not where the reports go)."""
    words = ["antiphon", "eval", "answers"]
    for option, values in (("--model", models), ("--corpus", corpora),
                           ("--midi-dir", folders)):
        for value in values:
            words += [option, str(value)]
    if calls != DEFAULT_CALLS:
        words += ["--calls", str(calls)]
    if bars != 2:
        words += ["--bars", str(bars)]
    for option, value in given.items():
        if value is not None:
            words += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    for count in candidates:
        words += ["--candidates", str(count)]
    if any_key:
        words.append("--any-key")
    return shlex.join(words)


def midi_tunes(folder: Path) -> list:
    """The .mid files under `folder` (by path, recursively) as key_calls.Tune: their
    notes as `antiphon continue` hears them (tracks merged, drums left out, the pedal
    holding), in bars of their first time signature from the file's start. ValueError
    (CallFileError) naming a file that cannot be read, or an empty folder."""
    from antiphon.daemon.cli.continue_files import read_call
    from antiphon.engine.events import NoteEvent
    from antiphon.training.evaluation.answer_calls import heard_tune

    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not paths:
        raise ValueError(f"{str(folder)!r} holds no .mid files")
    tunes = []
    for path in paths:
        heard = read_call(path)
        from_start = [NoteEvent(e.tick + heard.origin_ticks, e.pitch, e.velocity)
                      for e in heard.events]
        tunes.append(heard_tune(str(path.relative_to(folder)), from_start,
                                heard.beats_per_bar))
    return tunes


def sample_answers(model_path: Path, pairs: list, settings, seed: int | None, device: str,
                   progress: Callable[[int], None]) -> list:
    """Each pair's answer (answer_calls.CallPair), as notes from its start: a fresh session
    per call (continuation.new_session, the call's index its variation, so each call draws
    a repeatable stream of its own), sampled by continuation.sample_answer with
    `settings`, as `antiphon continue` samples its answers."""
    from antiphon.daemon.play.continuation import new_session, sample_answer
    from antiphon.engine.model import StepModel
    from antiphon.training.evaluation.answer_calls import events_to_notes

    model = StepModel(model_path, device=device)
    answers = []
    for index, pair in enumerate(pairs):
        session = new_session(model, seed, index)
        events, _ = sample_answer(session, pair.call, pair.start_tick, pair.length_ticks,
                                  settings)
        answers.append(events_to_notes(events, pair.start_tick))
        progress(index)
    return answers


def write_tables(path: Path, tables: str, section: str = "answers") -> None:
    """`tables` into `path`, between its `<!-- eval:SECTION -->` markers when it exists
    (added at its end where it has none), so a document such as docs/MODELS.md keeps the
    rest (`antiphon eval --write-docs` keeps this section in turn). Calls in any key have a
    section of their own, beside the calls as written."""
    from antiphon.daemon.bench.engine import replace_section

    document = path.read_text(encoding="utf-8") if path.exists() else ""
    written = replace_section(document, section, tables.splitlines(), kind="eval")
    path.write_text(written.lstrip("\n"), encoding="utf-8")
