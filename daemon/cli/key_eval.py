"""`antiphon eval keys` (also `antiphon eval-keys`, its first name): how often the key
finder of `--scale auto` is right on held-out calls, beside music21's analyzers
(registered in app.py, under both names).

It imports the training package inside its body: music21 is the `train` extra, and
`antiphon run` must never load it.
"""

from typing import Annotated

import typer

from antiphon.daemon.cli.shared import console, fail, setup_logging

KEY_CORPORA = ("essenFolksong", "oneills1850")


def eval_keys(
    corpus: Annotated[list[str] | None, typer.Option(
        help="music21 collection whose split gives the calls (repeatable). "
             "\\[default: essenFolksong, oneills1850]")] = None,
    bars: Annotated[int, typer.Option(help="Bars per call (by each tune's time "
                                      "signature).", min=1, max=8)] = 2,
    limit: Annotated[int | None, typer.Option(
        help="Only the first N test tunes of each collection (for a quick run).", min=1)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes for parsing scores. \\[default: all cores]", min=1)] = None,
    split: Annotated[str, typer.Option(
        help="Which split's tunes give the calls: test (held out from everything) or "
             "valid (the declaring threshold was set on it).")] = "test",
) -> None:
    """Score the key finder on the first bars of held-out folk tunes (the tune's final note
    is the tonic), beside music21's key analyzers, and say whether it meets its targets
    (exact, declared, precision when declared; needs the `train` extra)."""
    setup_logging("warning")
    if split not in ("test", "valid"):
        fail(f"--split must be test or valid, not {split!r}")
    try:
        from antiphon.training.evaluation.key_accuracy import (
            format_scores,
            format_targets,
            score_collection,
        )
    except ImportError as err:
        fail(f"evaluating keys needs the train extra: pip install 'antiphon[train]' ({err})")
    results = []
    for name in corpus or KEY_CORPORA:
        try:
            results.append(score_collection(name, bars=bars, limit=limit, split=split,
                                            workers=workers))
        except (OSError, ValueError) as err:
            fail(str(err))
        console.print(format_scores(results[-1:]), markup=False, highlight=False,
                      soft_wrap=True)
    console.print(format_targets(results), markup=False, highlight=False, soft_wrap=True)
