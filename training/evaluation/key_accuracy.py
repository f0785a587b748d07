"""How often the key finder is right on held-out calls (`antiphon eval-keys`).

Calls are the first bars of the test split's tunes, and each is scored against its tune's
key (key_calls says how both are defined). Printed per collection, per method:
- exact: the share of calls whose key (tonic, and major or minor) is the tune's;
- declared: the share the method is sure enough of to mask an answer to (Antiphon's own
  finder only: `find_key(...).clear`);
- precision: of the declared calls, the share right. For the anchors, which declare
  nothing, the same share of their own most confident calls (by their correlation, or
  posterior), so the figures compare at equal coverage;
- precision on the surest third: of the third of the calls each method is surest of
  (Antiphon's by its key's probability), the share right: how far confidence buys
  precision, whether or not anything is declared (a third is the share of declared calls
  asked of the finder, at 90 % right: `format_targets` prints those targets, met or not);
- of that surest third, the share whose key's scale holds 95 % of the whole tune: how
  often a mask to the scale would have kept the tune's notes, whether or not the tune
  ends on the key's tonic (many end on its third or fifth, and are "wrong" keys).

Anchors, on the same calls: music21's Krumhansl-Schmuckler, Aarden-Essen and Temperley-
Kostka-Payne analyzers (`music21.analysis.discrete`), Temperley's Bayesian pitch-class-set
key finder (Temperley 2007: a key's probability is the product over the 12 pitch classes
of its profile's probability that the class appears, or does not), and "the call's last
note is the tonic" (major when its major third sounds longer in the call than its minor).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.key_finding import PROFILES, call_notes, find_key, pitch_class_weights
from antiphon.training.evaluation.key_calls import DEFAULT_BARS, TuneKey, load_tunes

# (tonic, mode) or None, and a confidence (higher: surer), for one call
Guess = tuple[TuneKey | None, float]


@dataclass(frozen=True)
class MethodScore:
    method: str
    calls: int
    exact: float
    declared: float | None  # None: the method does not declare
    precision: float  # of the declared calls (or as many of the most confident)
    surest_third: float  # precision on the third of the calls it is surest of


@dataclass(frozen=True)
class CollectionScores:
    corpus: str
    split: str
    bars: int
    tunes: int
    methods: list[MethodScore]
    # of Antiphon's wrong keys, the share whose major third or fifth is the tune's final
    # note: tunes that end off the tonic their opening points to
    wrong_ending_on_third_or_fifth: float = math.nan
    # of the third of the calls Antiphon is surest of, the share whose key's scale (the
    # mode find_key names) holds SCALE_HOLDS of the whole tune's sounding time: how often a
    # mask to it would have kept the tune's notes, right key or not
    surest_third_scale_holds_tune: float = math.nan
    # Antiphon's calls: (right, declared) each, for the targets pooled over collections
    ours: list[tuple[bool, bool]] = field(default_factory=list)


SCALE_HOLDS = 0.95


def antiphon_guess(call: Sequence[NoteEvent]) -> tuple[TuneKey | None, float, bool]:
    key = find_key(call)
    if key is None:
        return None, 0.0, False
    return TuneKey(key.tonic, key.family), key.probability, key.clear


def scale_holds_tune(call: Sequence[NoteEvent], tune_notes: np.ndarray) -> bool:
    """Whether the scale find_key names for the call holds SCALE_HOLDS of the whole tune's
    sounding time."""
    key = find_key(call)
    if key is None:
        return False
    lengths = np.bincount(tune_notes[:, 2] % 12, tune_notes[:, 1] - tune_notes[:, 0], 12)
    return bool(lengths[sorted(key.pitch_classes())].sum() >= SCALE_HOLDS * lengths.sum())


def last_note_guess(call: Sequence[NoteEvent]) -> Guess:
    notes = call_notes(call)
    if not notes:
        return None, 0.0
    last = max(start for start, _, _ in notes)
    tonic = min(pitch for start, _, pitch in notes if start == last) % 12
    weights = pitch_class_weights(call)
    major = weights[(tonic + 4) % 12] >= weights[(tonic + 3) % 12]
    return TuneKey(tonic, "major" if major else "minor"), float(weights[tonic] / weights.sum())


def temperley_bayesian_guess(call: Sequence[NoteEvent]) -> Guess:
    """Temperley's pitch-class-set model with the Kostka-Payne probabilities."""
    present = pitch_class_weights(call) > 0
    if not present.any():
        return None, 0.0
    best, scores = None, []
    for family, profile in zip(("major", "minor"), PROFILES["temperley-kostka-payne"],
                               strict=True):
        for tonic in range(12):
            p = np.roll(np.asarray(profile), tonic)
            score = float(np.where(present, np.log(p), np.log1p(-p)).sum())
            scores.append(score)
            if best is None or score > best[0]:
                best = (score, TuneKey(tonic, family))
    logs = np.array(scores)
    posterior = float(np.exp(best[0] - logs.max()) / np.exp(logs - logs.max()).sum())
    return best[1], posterior


def music21_guesser(analyzer_name: str) -> Callable[[Sequence[NoteEvent]], Guess]:
    """A guess by one of music21's discrete key analyzers, on the call as a stream."""
    from music21 import analysis, note, stream

    analyzer = getattr(analysis.discrete, analyzer_name)()

    def guess(call: Sequence[NoteEvent]) -> Guess:
        notes = call_notes(call)
        if not notes:
            return None, 0.0
        part = stream.Stream()
        for start, end, pitch in notes:
            element = note.Note(pitch, quarterLength=(end - start) / TICKS_PER_BEAT)
            part.insert(start / TICKS_PER_BEAT, element)
        key = analyzer.getSolution(part)
        confidence = key.correlationCoefficient
        return (TuneKey(key.tonic.pitchClass, key.mode if key.mode == "minor" else "major"),
                float(confidence) if confidence is not None else 0.0)

    return guess


ANCHORS = {  # name shown: the music21 analyzer class, or a function here
    "music21 Krumhansl-Schmuckler": "KrumhanslSchmuckler",
    "music21 Aarden-Essen": "AardenEssen",
    "music21 Temperley-Kostka-Payne": "TemperleyKostkaPayne",
    "Temperley Bayesian (pitch-class set)": temperley_bayesian_guess,
    "last note of the call as tonic": last_note_guess,
}


def score_collection(corpus: str, bars: int = DEFAULT_BARS, limit: int | None = None,
                     split: str = "test", workers: int | None = None) -> CollectionScores:
    tunes = load_tunes(corpus, split, limit, workers=workers)
    if not tunes:
        raise ValueError(f"{corpus}: no tunes in the {split} split")
    calls = [tune.call(bars) for tune in tunes]
    truths = [tune.key() for tune in tunes]
    ours = [antiphon_guess(call) for call in calls]
    right = np.array([guess == truth for (guess, _, _), truth in zip(ours, truths,
                                                                       strict=True)])
    declared = np.array([clear for _, _, clear in ours])
    third = max(1, len(calls) // 3)
    surest = np.argsort(-np.array([p for _, p, _ in ours]), kind="stable")[:third]
    methods = [MethodScore("antiphon (engine/key_finding.py)", len(calls), right.mean(),
                           declared.mean(), _mean(right[declared]), _mean(right[surest]))]
    share = int(declared.sum())
    for name, how in ANCHORS.items():
        guesser = music21_guesser(how) if isinstance(how, str) else how
        guesses = [guesser(call) for call in calls]
        hits = np.array([g == t for (g, _), t in zip(guesses, truths, strict=True)])
        confidence = np.array([c for _, c in guesses])
        order = np.argsort(-confidence, kind="stable")
        methods.append(MethodScore(name, len(calls), hits.mean(), None,
                                   _mean(hits[order[:share]]), _mean(hits[order[:third]])))
    wrong = [(guess, truth) for (guess, _, _), truth in zip(ours, truths, strict=True)
             if guess is not None and guess != truth]
    off_tonic = _mean(np.array([(truth.tonic - guess.tonic) % 12 in (3, 4, 7)
                                for guess, truth in wrong]))
    holds = _mean(np.array([scale_holds_tune(calls[i], tunes[i].notes) for i in surest]))
    return CollectionScores(corpus, split, bars, len(tunes), methods, off_tonic, holds,
                            list(zip(right.tolist(), declared.tolist(), strict=True)))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def format_scores(results: Sequence[CollectionScores]) -> str:
    """The figures as a Markdown table, one block per collection."""
    lines = []
    for result in results:
        lines += [f"{result.corpus}, {result.split} split: first {result.bars} bars of "
                  f"{result.tunes} tunes",
                  "",
                  "| method | exact | declared | precision when declared | precision on its "
                  "surest third |",
                  "|---|---|---|---|---|"]
        for m in result.methods:
            declared = "-" if m.declared is None else f"{m.declared:.1%}"
            note = "" if m.declared is not None else " (as many of its surest)"
            precision = "n/a" if math.isnan(m.precision) else f"{m.precision:.1%}{note}"
            lines.append(f"| {m.method} | {m.exact:.1%} | {declared} | {precision} | "
                         f"{m.surest_third:.1%} |")
        if not math.isnan(result.surest_third_scale_holds_tune):
            lines += ["", f"Of the third of the calls Antiphon is surest of, "
                      f"{result.surest_third_scale_holds_tune:.0%} have a key whose scale "
                      f"holds {SCALE_HOLDS:.0%} or more of the whole tune's sounding time "
                      "(right key or not)."]
        if not math.isnan(result.wrong_ending_on_third_or_fifth):
            lines += ["", f"Of Antiphon's wrong keys, {result.wrong_ending_on_third_or_fifth:.0%}"
                      " are keys whose third or fifth is the tune's final note."]
        lines.append("")
    return "\n".join(lines)


TARGETS = (  # what the finder is asked, on held-out calls
    ("exact", 0.70, "of the calls' keys right"),
    ("declared", 1 / 3, "of the calls declared (masked to the key's scale)"),
    ("precision", 0.90, "of the declared calls right"),
)


def target_figures(results: Sequence[CollectionScores]) -> dict[str, float]:
    """Antiphon's exact, declared and precision-when-declared shares, pooled over the
    collections' calls (NaN precision where nothing is declared)."""
    calls = np.array([pair for result in results for pair in result.ours], bool).reshape(-1, 2)
    right, declared = calls[:, 0], calls[:, 1]
    return {"exact": _mean(right), "declared": _mean(declared),
            "precision": _mean(right[declared])}


def format_targets(results: Sequence[CollectionScores]) -> str:
    """The targets asked of the finder, per collection and pooled, each met or not."""
    rows = [(f"{r.corpus} ({r.tunes} calls)", target_figures([r])) for r in results]
    if len(results) > 1:
        rows.append((f"all ({sum(r.tunes for r in results)} calls)", target_figures(results)))
    split = ", ".join(sorted({r.split for r in results}))
    lines = [f"Targets on the {split} split: " + "; ".join(
                 f"{name} >= {goal:.0%} {what}" for name, goal, what in TARGETS), "",
             "| calls | exact | declared | precision when declared | all met |",
             "|---|---|---|---|---|"]
    for label, figures in rows:
        met = all(not math.isnan(figures[name]) and figures[name] >= goal
                  for name, goal, _ in TARGETS)
        cells = [("n/a" if math.isnan(figures[name]) else f"{figures[name]:.1%}")
                 for name, _, _ in TARGETS]
        lines.append(f"| {label} | {' | '.join(cells)} | {'yes' if met else 'no'} |")
    return "\n".join(lines) + "\n"
