"""Best of N drawn in the silence that may end the call.

A musician hears the call end when its last note ends; Antiphon knows it only a silence
later (`silence_beats`), and the answer is due at the next grid point after that, which
can be a few milliseconds away. Streaming one answer fits in that; drawing N and
choosing one does not. So the interaction loop starts the draw as soon as the last key is
let go (CallAndResponse.expected_answer says which answer the silence would ask for):
the N candidates are sampled as one batch and scored while the silence runs, the loop
asking its inbox before every step, and a note played meanwhile abandons the draw.

The session is marked before the draw and goes back to the mark whenever the drawn
answer is not played: a note came (the call goes on), the settings or the model changed,
the answer asked for is another one. When the silence does end the call, the chosen
candidate is adopted (engine/candidates.py) and played on the grid: an answer whose start
the loop has passed is pushed to the next grid point ahead, as a late one is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from antiphon.daemon.play.answering import answer_rules, batches, shipped_critic
from antiphon.daemon.play.clock import beats_to_ticks
from antiphon.daemon.play.interaction import StartAnswer
from antiphon.daemon.play.loop_parts import LoopSettings
from antiphon.engine.answer_choice import answer_scores
from antiphon.engine.candidates import Candidate
from antiphon.engine.constraints import PitchRules
from antiphon.engine.events import NoteEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerDrawn:
    """A best-of-N answer drawn ahead, waiting for the silence to confirm it."""

    session: object  # the session it was drawn from (a Session)
    mark: object  # the session before the draw (Session.mark)
    plan: StartAnswer  # the answer the silence would ask for
    call_events: int  # events of the call when it was drawn
    start_tick: int  # session tick of the answer's start
    candidate: Candidate  # the best-scored of the N
    scores: np.ndarray
    rules_chosen: str  # what the rules kept to, for the log
    seconds: float  # how long the draw took


class DrawAhead:
    """The one answer drawn ahead, if any (module docstring). Loop thread only.

    `stop` says whether the player came in (asked before every step: the loop looks at
    its inbox); `now` reads the seconds the draw is timed by (the loop's time source)."""

    def __init__(self, stop: Callable[[], bool], now: Callable[[], float]) -> None:
        self.drawn: AnswerDrawn | None = None
        self.tried: tuple | None = None  # the (plan, call length) last drawn for
        self._stop = stop
        self._now = now

    def should_try(self, plan: StartAnswer | None, call: Sequence[NoteEvent]) -> bool:
        """Whether to draw for `plan` now: not yet tried for it, nothing waiting."""
        return plan is not None and self.drawn is None and self.tried != (plan, len(call))

    def draw_for(self, session, plan: StartAnswer | None, call: Sequence[NoteEvent],
                 settings: LoopSettings, session_tick: Callable[[int], int]) -> bool:
        """Draw from `session` what `plan` would ask of it after `call`, by `settings`, if
        they draw the best of N, the session's model steps N rows as one batch, and
        nothing was drawn for this plan yet; False when the player came in meanwhile.
        `session_tick` turns a clock tick into the session's."""
        if (settings.candidates <= 1 or not batches(session)
                or not self.should_try(plan, call)):
            return True
        rules, chosen = answer_rules(call, settings.rules, settings.follow_call)
        start_tick = session_tick(beats_to_ticks(plan.start_beats))
        rest = settings.max_opening_rest_beats
        return self.draw(session, plan, call, start_tick,
                         max(1, beats_to_ticks(plan.length_beats)), settings.candidates,
                         settings.temperature, None if rest is None else beats_to_ticks(rest),
                         rules, chosen, settings.top_p, self._stop, self._now)

    def draw(self, session, plan: StartAnswer, call: Sequence[NoteEvent], start_tick: int,
             length_ticks: int, candidates: int, temperature: float,
             max_opening_rest_ticks: int | None, rules: PitchRules | None,
             rules_chosen: str, top_p: float, stop: Callable[[], bool], now) -> bool:
        """Draw the best of `candidates` for `plan`; False when `stop` cut it short (the
        session is then as it was)."""
        self.discard()
        self.tried = (plan, len(call))
        mark = session.mark()
        began = now()
        drawn = session.sample_candidates(start_tick, length_ticks, candidates, temperature,
                                          max_opening_rest_ticks, rules, top_p, stop=stop)
        if drawn is None:
            session.restore(mark)
            self.tried = None  # cut by a knob, say: the same call may be drawn for again
            return False
        scores = answer_scores(call, [c.events for c in drawn], start_tick, length_ticks,
                               shipped_critic())
        best = drawn[int(np.argmax(scores))]
        self.drawn = AnswerDrawn(session, mark, plan, len(call), start_tick, best, scores,
                                 rules_chosen, now() - began)
        return True

    def take(self, session, plan: StartAnswer, call: Sequence[NoteEvent]) -> AnswerDrawn | None:
        """The answer drawn for `plan`, adopted by `session`; None (and the session as it
        was before the draw) when what was drawn does not answer this call so."""
        drawn, self.drawn = self.drawn, None
        if drawn is None:
            return None
        if (drawn.session is not session or drawn.call_events != len(call)
                or drawn.plan.length_beats != plan.length_beats
                or drawn.plan.start_beats > plan.start_beats):
            drawn.session.restore(drawn.mark)
            return None
        session.adopt(drawn.candidate)
        return drawn

    def discard(self) -> None:
        """Forget the answer drawn ahead, and the session's draw with it."""
        drawn, self.drawn = self.drawn, None
        if drawn is not None:
            drawn.session.restore(drawn.mark)
            log.debug("the answer drawn ahead is dropped: the call went on")
