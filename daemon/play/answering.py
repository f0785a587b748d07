"""How an answer is drawn, live (InteractionLoop._answer) and offline (continuation.py)
alike: one sample streamed as it comes, or the best of N candidates (`--candidates N`).

With one candidate the session's `generate` streams the answer: its first notes can be
scheduled while the rest is sampled. With N, all N are sampled (as one batch where the
model allows: engine/candidates.py) and scored (engine/answer_choice.py: the critic and
the call's pitch classes, density and register) before the first note is known; the
interaction loop's lateness rules then place the answer on the next grid point that is
still ahead, so a slow draw is heard late on the grid, never off it.

Live, best of N needs a model that samples the N as one batch (an event model with batch
axes, engine/model.py); other models (the Transformer, the piano-roll ones) would draw
them one after another, N answers' time before the first note, so live they stream one
answer. Offline (`antiphon continue`, `antiphon eval answers`) any model draws N.

The critic is the shipped one (exported_models/critic.onnx), loaded once per process on
first need; without it (missing or unreadable: said once in the log) answers are judged
by the metrics alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence

from antiphon.engine.answer_choice import answer_scores
from antiphon.engine.candidates import best_of
from antiphon.engine.card import ModelLoadError
from antiphon.engine.constraints import PitchRules
from antiphon.engine.events import NoteEvent
from antiphon.engine.texture import rules_for_answer

log = logging.getLogger(__name__)
_critic_lock = threading.Lock()
_critic_loaded = False
_critic = None


def shipped_critic():
    """The shipped critic (engine.critic.Critic), or None where it cannot be loaded."""
    global _critic, _critic_loaded
    with _critic_lock:
        if not _critic_loaded:
            from antiphon.engine.critic import Critic
            from antiphon.exported_models import critic_path

            _critic_loaded = True
            try:
                _critic = Critic.load(critic_path())
            except ModelLoadError as err:
                log.warning("answers are chosen without the critic: %s", err)
        return _critic


def answer_rules(call: Sequence[NoteEvent], rules: PitchRules | None,
                 follow_call: bool) -> tuple[PitchRules | None, str]:
    """The rules an answer to `call` keeps (engine/texture.py `rules_for_answer`: the
    configured ones narrowed to the call's key and range with scale "auto", and their
    polyphony to its texture), and what they are in words."""
    if follow_call or rules is not None:
        return rules_for_answer(call, rules or PitchRules(), follow_call)
    return rules, "the configured rules"


def draw_answer(session, call: Sequence[NoteEvent], candidates: int, start_tick: int,
                length_ticks: int, temperature: float, max_opening_rest_ticks: int | None,
                rules: PitchRules | None, top_p: float,
                one_by_one: bool = False) -> Iterator[NoteEvent]:
    """The answer's events, in time order: streamed from the session with one candidate,
    the best of `candidates` otherwise. `one_by_one`: a model without batch axes draws
    its candidates one after another (offline) rather than streaming one (live). Close
    the iterator to stop early (one candidate: the session releases its notes where it
    stopped)."""
    if candidates <= 1 or not (one_by_one or batches(session)):
        return session.generate(start_tick, length_ticks, temperature,
                                max_opening_rest_ticks, rules, top_p)
    critic = shipped_critic()

    def score(answers: Sequence[Sequence[NoteEvent]]):
        return answer_scores(call, answers, start_tick, length_ticks, critic)

    events, scores = best_of(session, candidates, score, start_tick, length_ticks,
                             temperature, max_opening_rest_ticks, rules, top_p)
    log.debug("best of %d answers, scores %s", candidates,
              " ".join(f"{value:.2f}" for value in scores))
    return iter_events(events)


def batches(session) -> bool:
    """Whether `session` samples candidates as one batch (module docstring)."""
    model = getattr(session, "model", None)
    return (hasattr(session, "sample_candidates")
            and getattr(model, "batch_axes", None) is not None)


def iter_events(events: list[NoteEvent]) -> Iterator[NoteEvent]:
    yield from events  # a generator, closed as a streamed answer is
