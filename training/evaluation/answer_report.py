"""The report of `antiphon eval answers`: each model's answers beside the real
continuations, measure by measure (answer_metrics), as tables (markdown and rich), the
check the answers are held to, the per-call values (JSON) and their distributions (PNG).

Calls are taken in two groups, since what an answer should be differs: single-line calls
(the call is one voice: folk tunes) and calls of chords (Bach's chorales). The relevance
AUC is computed within a group, beside its ceiling (the call itself as the answer: a
tune's next bars keep its pitches) and its floor (another tune's real continuation).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antiphon.training.evaluation.answer_calls import CallPair
from antiphon.training.evaluation.answer_metrics import METRICS, auc_of, floor_auc, measure

SINGLE_LINE = "single-line calls"
CHORDS = "calls of chords"

# The check answers are held to (answer against the real continuation, group means).
IN_KEY_SLACK = 0.03
NOTES_PER_BEAT_RATIO = (0.75, 1.33)
MOST_MELODY_POLYPHONY = 1.3
MEAN_PITCH_SEMITONES = 4.0
LEAST_AUC = 0.8
LEAST_CHORD_POLYPHONY_SHARE = 0.6


@dataclass
class GroupResult:
    """One model's answers to one group of calls."""

    group: str
    pairs: list[CallPair]
    answers: list[np.ndarray]
    answer_values: list[dict[str, float]] = field(default_factory=list)
    real_values: list[dict[str, float]] = field(default_factory=list)
    auc: float = math.nan
    ceiling: float = math.nan  # the call as the answer
    floor: float = math.nan  # another tune's real continuation as the answer

    def mean(self, metric: str, real: bool = False) -> float:
        values = [v[metric] for v in (self.real_values if real else self.answer_values)]
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    @property
    def auc_share(self) -> float:
        """Where the answers' AUC lies from floor (0) to ceiling (1)."""
        span = self.ceiling - self.floor
        return (self.auc - self.floor) / span if span > 0 else math.nan

    @property
    def silent_answers(self) -> int:
        return sum(1 for answer in self.answers if len(answer) == 0)


@dataclass
class ModelResult:
    label: str  # as the command named the model
    settings: str  # in words
    groups: list[GroupResult]


def short_label(model: ModelResult, models: list[ModelResult]) -> str:
    """The model's name, with how many answers it drew per call where the same model
    appears under other settings too (`--candidates 1 --candidates 8`)."""
    if sum(m.label == model.label for m in models) < 2:
        return model.label
    drawn = re.search(r"best of (\d+)", model.settings)
    return f"{model.label} x{drawn.group(1) if drawn else 1}"


def group_of(pair: CallPair) -> str:
    return SINGLE_LINE if pair.single_line else CHORDS


def score_group(group: str, pairs: list[CallPair], answers: list[np.ndarray]) -> GroupResult:
    """Every measure of each answer and real continuation, and the group's AUCs."""
    result = GroupResult(group, pairs, answers)
    for pair, answer in zip(pairs, answers, strict=True):
        result.answer_values.append(measure(answer, pair.length_ticks, pair.bar_ticks,
                                            pair.key))
        result.real_values.append(measure(pair.real, pair.length_ticks, pair.bar_ticks,
                                          pair.key))
    reals = [pair.real for pair in pairs]
    result.auc = auc_of(answers, reals)
    result.ceiling = auc_of([pair.call_notes for pair in pairs], reals)
    result.floor = floor_auc(reals)
    return result


def score_model(label: str, settings: str, pairs: list[CallPair],
                answers: list[np.ndarray]) -> ModelResult:
    groups = []
    for group in (SINGLE_LINE, CHORDS):
        chosen = [i for i, pair in enumerate(pairs) if group_of(pair) == group]
        if chosen:
            groups.append(score_group(group, [pairs[i] for i in chosen],
                                      [answers[i] for i in chosen]))
    return ModelResult(label, settings, groups)


def checks(result: GroupResult) -> list[tuple[str, bool]]:
    """The check of a group, each part in words with whether it passed (NaN fails)."""
    def mean(metric: str, real: bool = False) -> float:
        return result.mean(metric, real)

    if result.group == CHORDS:
        share = LEAST_CHORD_POLYPHONY_SHARE
        answer, real = mean("polyphony"), mean("polyphony", real=True)
        return [(f"polyphony {answer:.2f} >= {share:g} x real's {real:.2f}",
                 answer >= share * real)]
    in_key, real_in_key = mean("in_key"), mean("in_key", real=True)
    density, real_density = mean("notes_per_beat"), mean("notes_per_beat", real=True)
    ratio = density / real_density if real_density else math.nan
    low, high = NOTES_PER_BEAT_RATIO
    polyphony = mean("polyphony")
    pitch, real_pitch = mean("mean_pitch"), mean("mean_pitch", real=True)
    return [
        (f"in key {in_key:.3f} >= real's {real_in_key:.3f} - {IN_KEY_SLACK:g}",
         in_key >= real_in_key - IN_KEY_SLACK),
        (f"notes per beat ratio {ratio:.2f} within {low:g}-{high:g}", low <= ratio <= high),
        (f"mean polyphony {polyphony:.2f} <= {MOST_MELODY_POLYPHONY:g}",
         polyphony <= MOST_MELODY_POLYPHONY),
        (f"mean pitch {pitch:.1f} within {MEAN_PITCH_SEMITONES:g} of real's {real_pitch:.1f}",
         abs(pitch - real_pitch) <= MEAN_PITCH_SEMITONES),
        (f"relevance AUC {result.auc:.3f} >= {LEAST_AUC:g}", result.auc >= LEAST_AUC),
    ]


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


TABLE_HEADER = ("measure", "answer", "real", "answer - real", "answer / real")


def table_rows(result: GroupResult) -> list[tuple[str, ...]]:
    """Rows of TABLE_HEADER: each measure's means, then the relevance AUC."""
    rows = []
    for metric, words in METRICS.items():
        answer, real = result.mean(metric), result.mean(metric, real=True)
        ratio = answer / real if real and not math.isnan(real) else math.nan
        rows.append((words, _number(answer), _number(real), _number(answer - real),
                     _number(ratio, 2)))
    rows.append(("relevance AUC", _number(result.auc),
                 "", "", ""))
    return rows


def title(model: ModelResult, result: GroupResult) -> str:
    collections = sorted({pair.collection for pair in result.pairs})
    return (f"{model.label}, {model.settings}: {len(result.pairs)} {result.group} "
            f"({', '.join(collections)})")


def notes_under(result: GroupResult) -> list[str]:
    """The lines printed under a table: AUC bounds, silent answers, the check."""
    lines = [f"relevance AUC bounds: the call as its answer {_number(result.ceiling)} "
             f"(ceiling), another tune's real continuation {_number(result.floor)} (floor); "
             f"the answers' AUC lies {_number(result.auc_share, 2)} of the way from floor "
             "to ceiling"]
    if result.silent_answers:
        lines.append(f"{result.silent_answers} of {len(result.answers)} answers have no "
                     "note (left out of the means but notes per beat)")
    parts = checks(result)
    verdict = "PASS" if all(ok for _, ok in parts) else "FAIL"
    lines.append(f"check: {verdict}: " + "; ".join(
        f"{words} {'ok' if ok else 'FAILED'}" for words, ok in parts))
    return lines


COLLECTION_HEADER = ("collection", "calls", "notes per beat", "in key", "mean pitch",
                     "mean polyphony", "AUC (ceiling)")
COLLECTION_METRICS = ("notes_per_beat", "in_key", "mean_pitch", "polyphony")


def collection_rows(result: GroupResult) -> list[tuple[str, ...]]:
    """Rows of COLLECTION_HEADER: each collection's calls alone, "answer / real" means
    (and its AUCs within the collection); none where the group has one collection."""
    names = sorted({pair.collection for pair in result.pairs})
    if len(names) < 2:
        return []
    rows = []
    for name in names:
        chosen = [i for i, pair in enumerate(result.pairs) if pair.collection == name]
        part = GroupResult(result.group, [result.pairs[i] for i in chosen],
                           [result.answers[i] for i in chosen],
                           [result.answer_values[i] for i in chosen],
                           [result.real_values[i] for i in chosen])
        reals = [pair.real for pair in part.pairs]
        auc = auc_of(part.answers, reals)
        ceiling = auc_of([pair.call_notes for pair in part.pairs], reals)
        rows.append((name, str(len(chosen)), *(
            f"{_number(part.mean(m), 2)} / {_number(part.mean(m, real=True), 2)}"
            for m in COLLECTION_METRICS), f"{_number(auc, 2)} ({_number(ceiling, 2)})"))
    return rows


def _markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1),
            *("| " + " | ".join(row) + " |" for row in rows)]


ABOUT = (
    "Answers to held-out calls beside the real continuations of the same calls: each call "
    "is the first bars of a test-split tune (Ryan's Mammoth Collection, which no shipped "
    "model trained on, from all its tunes), its answer is sampled as `antiphon continue` "
    "samples one, and both are measured with MusPy's definitions. Relevance AUC: how often "
    "an answer's pitch-class profile is nearer its own tune's continuation than another "
    "call's; the call itself, played as its answer, gives the ceiling, another tune's "
    "continuation the floor. The check is what answers are held to: in key within 0.03 of "
    "the real, notes per beat 0.75-1.33 of it, mean polyphony 1.3 or less, mean pitch "
    "within 4 semitones, relevance AUC 0.8 or more; calls of chords keep 0.6 of the real "
    "polyphony.")


ANY_KEY_ABOUT = (
    "The same calls, each with its continuation moved into a key drawn at random (-5..+6 "
    "semitones, seeded), as a player may call in any key. A collection's tunes sit in a "
    "few keys, so another tune's continuation often shares this one's key and sounds like "
    "it by its profile alone; in any key, the relevance AUC asks whether an answer follows "
    "its own call rather than its collection's usual keys.")


def markdown(models: list[ModelResult], command: str, picture: str | None = None,
             any_key: bool = False) -> str:
    """Every table, in markdown, the command that printed them at the top; `picture`: a
    link to the distributions' picture, relative to the markdown file. `any_key`: the
    calls were moved into random keys (answer_calls.in_any_key), said at the top."""
    out = ["## Answers to calls in any key" if any_key else "## Answers", "",
           f"`{command}`", "", ABOUT, ""]
    if any_key:
        out += [ANY_KEY_ABOUT, ""]
    if picture:
        out += [f"![The measures' distributions, answer by answer]({picture})", ""]
    for model in models:
        for result in model.groups:
            out += [f"**{title(model, result)}**", ""]
            out += _markdown_table(TABLE_HEADER, table_rows(result))
            out += [""] + [f"{line}  " for line in notes_under(result)] + [""]
            if rows := collection_rows(result):
                out += ["By collection (answer / real):", ""]
                out += _markdown_table(COLLECTION_HEADER, rows) + [""]
    return "\n".join(out)


def print_tables(console, models: list[ModelResult]) -> bool:
    """The tables with rich, each with its notes; whether every check passed."""
    from rich.markup import escape
    from rich.table import Table

    def show(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        table = Table()
        for index, column in enumerate(header):
            # Names whole; numbers may wrap in a narrow terminal.
            table.add_column(column, justify="left" if index == 0 else "right",
                             no_wrap=index == 0)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)

    passed = True
    for model in models:
        for result in model.groups:
            # The title as a line of its own: a table's title wraps to the table's width.
            console.print(f"[bold]{escape(title(model, result))}[/]", highlight=False,
                          soft_wrap=True)
            show(TABLE_HEADER, table_rows(result))
            for line in notes_under(result):
                style = "" if not line.startswith("check:") else (
                    "green" if "check: PASS" in line else "red")
                console.print(escape(line), style=style, highlight=False, soft_wrap=True)
            if rows := collection_rows(result):
                console.print("by collection (answer / real):", highlight=False)
                show(COLLECTION_HEADER, rows)
            passed &= all(ok for _, ok in checks(result))
    return passed


def _plain(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def to_json(models: list[ModelResult], command: str) -> dict:
    """The per-call values and each group's means, AUCs and check, NaN as null."""
    out: dict = {"command": command, "metrics": METRICS, "models": []}
    for model in models:
        groups = []
        for result in model.groups:
            calls = [{
                "collection": pair.collection, "tune": pair.tune_id,
                "start_tick": pair.start_tick, "length_ticks": pair.length_ticks,
                "key": f"{pair.key.tonic} {pair.key.mode}",
                "answer_notes": len(answer), "real_notes": len(pair.real),
                "answer": {k: _plain(v) for k, v in answer_values.items()},
                "real": {k: _plain(v) for k, v in real_values.items()},
            } for pair, answer, answer_values, real_values in zip(
                result.pairs, result.answers, result.answer_values, result.real_values,
                strict=True)]
            groups.append({
                "group": result.group,
                "answer_means": {m: _plain(result.mean(m)) for m in METRICS},
                "real_means": {m: _plain(result.mean(m, real=True)) for m in METRICS},
                "relevance_auc": _plain(result.auc),
                "relevance_auc_ceiling": _plain(result.ceiling),
                "relevance_auc_floor": _plain(result.floor),
                "relevance_auc_share_of_ceiling": _plain(result.auc_share),
                "check": [{"part": words, "passed": bool(ok)} for words, ok in checks(result)],
                "calls": calls,
            })
        out["models"].append({"model": model.label, "settings": model.settings,
                              "groups": groups})
    return out


def write_json(path: Path, models: list[ModelResult], command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(models, command), indent=1) + "\n")


def write_picture(path: Path, models: list[ModelResult], command: str) -> None:
    """Violins of each measure per call: the real continuations, then each model's
    answers; a band of subplots per group of calls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in (SINGLE_LINE, CHORDS)
              if any(r.group == g for m in models for r in m.groups)]
    columns = 4
    rows_per_group = math.ceil(len(METRICS) / columns)
    figure, axes = plt.subplots(rows_per_group * len(groups), columns, squeeze=False,
                                figsize=(4.2 * columns, 3.2 * rows_per_group * len(groups)))
    for band, group in enumerate(groups):
        results = [(short_label(m, models), r) for m in models for r in m.groups
                   if r.group == group]
        for index, (metric, words) in enumerate(METRICS.items()):
            axis = axes[band * rows_per_group + index // columns][index % columns]
            names = ["real"] + [label for label, _ in results]
            series = [[v[metric] for v in results[0][1].real_values]] + [
                [v[metric] for v in r.answer_values] for _, r in results]
            series = [[x for x in s if not math.isnan(x)] for s in series]
            shown = [i for i, s in enumerate(series) if s]
            if shown:
                parts = axis.violinplot([series[i] for i in shown],
                                        positions=[i + 1 for i in shown],
                                        showmeans=True, showextrema=False)
                for body, i in zip(parts["bodies"], shown, strict=True):
                    body.set_facecolor("tab:gray" if i == 0 else f"C{i - 1}")
            axis.set_xticks(range(1, len(names) + 1), names, rotation=20, fontsize=8)
            axis.set_title(f"{words}\n{group}", fontsize=9)
    figure.suptitle(command, fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
