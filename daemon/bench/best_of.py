"""`antiphon bench engine`, best of N: what drawing N candidate answers and choosing one
costs, against the time it has.

Live, all N answers are sampled and scored before the answer's first note is due, and
the answer starts one beat after the call ends (on the grid): at 120 BPM that is 500 ms,
on the one core the model runs on. Measured through the code that plays
(daemon/play/answering.py `draw_answer`: the batched candidates, the critic, the metrics)
for a two-bar (8-beat) answer to a two-bar single-line call, and, to show where the time
goes, one batched step of N rows beside N single steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antiphon.daemon.play.answering import draw_answer, shipped_critic
from antiphon.engine.constraints import PitchRules
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.model import StepModel
from antiphon.engine.session import open_session
from antiphon.engine.timing import Latency, time_calls

COUNTS = (1, 2, 4, 8, 16)
ANSWER_BEATS = 8  # two bars of 4/4
BUDGET_SECONDS = 0.5  # one beat at 120 BPM: the gap between the call's end and the answer
# A two-bar call: "Twinkle, twinkle" in C, one note a beat, the last held two.
CALL_PITCHES = (60, 60, 67, 67, 69, 69, 67)


@dataclass(frozen=True)
class BestOfRow:
    candidates: int
    draw: Latency  # call end to the chosen answer, ms
    step: Latency | None  # one step of the batch (None: no batch axes), ms


def two_bar_call() -> list[NoteEvent]:
    events, tick = [], 0
    for index, pitch in enumerate(CALL_PITCHES):
        length = 2 * TICKS_PER_BEAT if index == len(CALL_PITCHES) - 1 else TICKS_PER_BEAT
        events += [NoteEvent(tick, pitch, 90), NoteEvent(tick + length - 2, pitch, 0)]
        tick += length
    return events


def draw_latency(model_path: Path, candidates: int, repeats: int) -> Latency:
    """Milliseconds to draw and choose one answer of ANSWER_BEATS beats, as live does."""
    session = open_session(model_path, device="cpu", seed=0)
    call = two_bar_call()
    rules = PitchRules(max_polyphony=1)  # what a single-line call gets
    clock = {"tick": 0}

    def draw() -> None:
        session.observe([NoteEvent(e.tick + clock["tick"], e.pitch, e.velocity) for e in call])
        start = clock["tick"] + 9 * TICKS_PER_BEAT
        for _ in draw_answer(session, call, candidates, start, ANSWER_BEATS * TICKS_PER_BEAT,
                             1.0, TICKS_PER_BEAT, rules, 1.0):
            pass
        clock["tick"] = session.tick + TICKS_PER_BEAT

    return time_calls(draw, repeats, warmup=2)


def batch_step_latency(model_path: Path, rows: int, steps: int) -> Latency | None:
    """One `step_batch` of `rows` rows; None for a graph without batch axes."""
    model = StepModel(model_path, device="cpu", threads=1)
    if model.batch_axes is None:
        return None
    vocab = model.card.vocab_size
    rng = np.random.default_rng(0)
    uniform = rng.random((rows, vocab), dtype=np.float32)
    bias = np.zeros((rows, vocab), dtype=np.float32)
    carried = {"tokens": np.zeros(rows, np.int64),
               "state": model.batch_state(model.initial_state(), rows)}

    def step() -> None:
        carried["tokens"], _, carried["state"] = model.step_batch(
            carried["tokens"], carried["state"], 1.0, uniform, bias)

    return time_calls(step, steps)


def best_of_rows(model_path: Path, repeats: int = 20, steps: int = 500) -> list[BestOfRow]:
    shipped_critic()  # loaded before timing, as the daemon loads it at start
    return [BestOfRow(n, draw_latency(model_path, n, repeats),
                      batch_step_latency(model_path, n, steps)) for n in COUNTS]


def best_of_lines(model: str, rows: list[BestOfRow], critic: bool) -> list[str]:
    single = rows[0].step
    lines = [
        f"Best of N ({model}): call end to the chosen answer, a {ANSWER_BEATS}-beat answer to "
        f"a two-bar single-line call, sampled and scored "
        f"({'critic and metrics' if critic else 'metrics only: no critic loaded'}); the "
        f"budget is one beat at 120 BPM ({BUDGET_SECONDS * 1e3:.0f} ms).",
        "",
        "| candidates | draw p50 / p99 / max (ms) | within one beat at 120 BPM | one batched "
        "step p50 / p99 (ms) | batched step / N single steps |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        step = row.step
        step_cell = f"{step.p50:.3f} / {step.p99:.3f}" if step else "– (no batch axes)"
        ratio = (f"{step.p50 / (row.candidates * single.p50):.2f}"
                 if step is not None and single is not None else "–")
        ok = row.draw.p99 <= BUDGET_SECONDS * 1e3
        lines.append(f"| {row.candidates} | {row.draw.p50:.1f} / {row.draw.p99:.1f} / "
                     f"{row.draw.max:.1f} | {'yes' if ok else '**no**'} | {step_cell} | "
                     f"{ratio} |")
    return lines
