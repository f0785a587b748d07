"""Best of N: sample N candidate answers to one call, score them, play the best.

A model's single answer is one draw; some draws answer the call better than others (in
its key, as dense as it, in its register, like a real continuation to the critic). So N
answers are drawn and the best-scored one is played (`--candidates N`; the scores are
answer_choice.py's).

For an event model whose step graph has a batch axis (model.py `step_batch`) the N
answers are sampled as one batch: every row starts from the session's state at the
answer's start, and each keeps its own rules (answer_row.py), noise and state; the
weights are read once per step for all N. The session then adopts the winner (`Session.
adopt`): its state, context and instants, exactly as if `generate` had sampled it, so a
player who cuts in rewinds it as any answer. Other models (a Transformer whose cache has
one row, the piano-roll models) draw the N answers one after another from the same start
(`generate`, then `rewind` to the start), and the session then hears the winner as played.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from antiphon.engine.answer_row import AnswerRow
from antiphon.engine.constraints import MAX_CANDIDATES, PitchRules
from antiphon.engine.events import NoteEvent
from antiphon.engine.model import StepModel

Scorer = Callable[[Sequence[Sequence[NoteEvent]]], np.ndarray]


@dataclass(frozen=True)
class RowInstant:
    """A candidate as it stood at the end of one of its instants (Session._Instant)."""

    tick: int
    state: list
    pending: int
    velocity_bin: int | None
    kept: int  # tokens of the candidate kept before this instant
    sounding: frozenset[int]


@dataclass
class Candidate:
    """One sampled answer, with what a session needs to adopt it."""

    events: list[NoteEvent]  # the answer, its closing releases included
    releases: list[NoteEvent]  # of those, the closing releases at `end_tick`
    end_tick: int
    tick: int  # where its last kept token left the time
    tokens: list[int]  # the tokens kept, in order
    state: list  # one-row state after its tokens but the last (which is `pending`)
    pending: int
    velocity_bin: int | None
    sounding: frozenset[int]  # before the closing releases
    instants: list[RowInstant]


def sample_rows(model: StepModel, rows: Sequence[AnswerRow], state: list, pending: int,
                rng: np.random.Generator, temperature: float, top_p: float,
                stop: Callable[[], bool] | None = None) -> list[Candidate] | None:
    """Sample one answer per row as one batch, from a one-row `state` whose next token to
    feed is `pending` (module docstring). `stop`, asked before each step: True abandons
    the draw (None is returned)."""
    n, vocab = len(rows), model.card.vocab_size
    batch = model.batch_state(state, n)
    tokens = np.full(n, pending, dtype=np.int64)
    uniform = np.empty((n, vocab), dtype=np.float32)
    bias = np.empty((n, vocab), dtype=np.float32)
    kept: list[list[int]] = [[] for _ in rows]
    events: list[list[NoteEvent]] = [[] for _ in rows]
    start = RowInstant(rows[0].tick, state, pending, rows[0].velocity_bin, 0, frozenset())
    instants = [[start] for _ in rows]
    finals: list[tuple[list, int] | None] = [None] * n  # (state, pending) once a row ends
    live = list(range(n))
    for _ in range(max(row.max_steps for row in rows)):
        if not live:
            break
        if stop is not None and stop():
            return None
        for b in live:
            bias[b] = rows[b].bias
        rng.random(dtype=np.float32, out=uniform)
        samples, _, stepped = model.step_batch(tokens, batch, temperature, uniform, bias, top_p)
        still = []
        for b in live:
            row, token = rows[b], int(samples[b])
            if row.ends_before(token):  # over: this token is not kept
                finals[b] = (model.row_state(batch, b), int(tokens[b]))
                continue
            if row.moves_time(token):  # the instant so far is complete
                instants[b].append(RowInstant(row.tick, model.row_state(batch, b),
                                              int(tokens[b]), row.velocity_bin, len(kept[b]),
                                              frozenset(row.sounding)))
            events[b].extend(row.take(token))
            kept[b].append(token)
            tokens[b] = token
            if row.over:
                finals[b] = (model.row_state(stepped, b), token)
            else:
                still.append(b)
        live, batch = still, stepped
    for b in live:  # ran out of steps
        finals[b] = (model.row_state(batch, b), int(tokens[b]))
    candidates = []
    for b, row in enumerate(rows):
        final_state, final_pending = finals[b]
        sounding = frozenset(row.sounding)
        releases = row.closing_releases()
        candidates.append(Candidate(events[b] + releases, releases, row.end_tick, row.tick,
                                    kept[b], final_state, final_pending, row.velocity_bin,
                                    sounding, instants[b]))
    return candidates


def best_of(session, n: int, score: Scorer, start_tick: int, length_ticks: int,
            temperature: float, max_opening_rest_ticks: int | None,
            rules: PitchRules | None, top_p: float) -> tuple[list[NoteEvent], np.ndarray]:
    """Draw `n` answers from `session` (a Session or a FrameSession) over [start_tick,
    start_tick + length_ticks], play the best by `score` into the session, and return it
    with every candidate's score (the winner's is the highest; the first on a tie)."""
    if not 1 <= n <= MAX_CANDIDATES:
        raise ValueError(f"candidates must be 1-{MAX_CANDIDATES}, got {n}")
    batched = getattr(session, "sample_candidates", None)
    if batched is not None and session.model.batch_axes is not None:
        candidates = batched(start_tick, length_ticks, n, temperature,
                             max_opening_rest_ticks, rules, top_p)
        scores = np.asarray(score([c.events for c in candidates]), dtype=float)
        best = int(np.argmax(scores))
        session.adopt(candidates[best])
        return candidates[best].events, scores
    answers = []
    for _ in range(n):
        answer = session.generate(start_tick, length_ticks, temperature,
                                  max_opening_rest_ticks, rules, top_p)
        answers.append(list(answer))
        session.rewind(max(start_tick, 0))  # back to the start, the answer forgotten
    scores = np.asarray(score(answers), dtype=float)
    best = int(np.argmax(scores))
    session.observe(answers[best])
    session.advance_to(start_tick + length_ticks)
    return answers[best], scores
