"""`antiphon prepare`: a MIDI folder (or music21 corpora) to memory-mapped token arrays for
`antiphon train --data`, or to piano rolls for `train-frames` and `eval --benchmark`.

Imports the training package inside its body: music21 and torch are the `train` extra,
and `antiphon run` must never load them.
"""

from pathlib import Path
from typing import Annotated

import typer

from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail, setup_logging


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
