"""An answer to a whole call at once, offline (`antiphon continue`): the model hears the
call, then samples the answer, as the interaction loop does live (InteractionLoop._observe
and _answer): the same session, the same rules (the configured ones, narrowed to the
call's key and range with scale "auto", and their polyphony to the call's texture:
`rules_for_answer`), temperature, top-p, longest opening rest and number of candidates
(answering.py). No clock, no scheduler: the answer is collected, not streamed.

Pure but for the model: the caller makes the sessions (`new_session`) and the call's
events (ticks on the session's timeline, TICKS_PER_BEAT a beat).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from antiphon.daemon.play.answering import answer_rules, draw_answer
from antiphon.daemon.play.clock import beats_to_ticks
from antiphon.daemon.play.loop_parts import AnswerSession, LoopSettings
from antiphon.engine.events import NoteEvent
from antiphon.engine.model import StepModel


def new_session(model: StepModel, seed: int | None, variation: int = 0) -> AnswerSession:
    """A fresh conversation with a loaded model (engine.session.open_session without
    loading the file again). Variation 0 samples as `antiphon run --seed SEED` would; each
    other one draws from its own stream, so variations differ and each is repeatable."""
    from antiphon.engine.frame_session import FrameSession
    from antiphon.engine.session import Engine

    entropy = None if seed is None else (seed if variation == 0 else [seed, variation])
    if model.card.representation == "pianoroll":
        return FrameSession(model, np.random.default_rng(entropy))
    return Engine(model).new_session(seed=entropy)


def sample_answer(
    session: AnswerSession, call: Sequence[NoteEvent], start_tick: int, length_ticks: int,
    settings: LoopSettings,
) -> tuple[list[NoteEvent], str]:
    """Let `session` hear `call` (ticks non-decreasing), then sample the answer over
    [start_tick, start_tick + length_ticks]. Returns the answer's events (each strike
    released by its end) and, in words, the rules it kept to (as the live log says)."""
    session.observe(list(call))
    rules, chosen = answer_rules(call, settings.rules, settings.follow_call)
    rest = settings.max_opening_rest_beats
    answer = draw_answer(session, call, settings.candidates, start_tick, max(1, length_ticks),
                         settings.temperature, None if rest is None else beats_to_ticks(rest),
                         rules, settings.top_p, one_by_one=True)
    events: list[NoteEvent] = []
    sounding: set[int] = set()
    try:
        for event in answer:
            events.append(event)
            (sounding.add if event.velocity else sounding.discard)(event.pitch)
    finally:
        answer.close()
    end = start_tick + max(1, length_ticks)  # what the session left sounding ends here
    events.extend(NoteEvent(end, pitch, 0) for pitch in sorted(sounding))
    return events, chosen

