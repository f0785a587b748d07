"""Which of N candidate answers to play (best of N, candidates.py): the one that answers the
call best, judged as a musician would hear it beside the call.

Each candidate gets a score, the sum of:
- the critic's verdict (critic.py: a bidirectional LSTM trained to tell a call's real
  continuation from sampled ones), its logit times CRITIC_WEIGHT, when a critic is loaded;
- how close its pitch-class profile is to the call's (cosine of the duration-weighted
  profiles, times PROFILE_WEIGHT): a real continuation mostly moves through the notes
  its call used, in its key;
- how near its density is to the call's (notes per beat; DENSITY_WEIGHT times the
  absolute log of the ratio, taken off): a tune goes on at about its own pace;
- how near its register is (its mean pitch against the call's, in octaves, times
  REGISTER_WEIGHT, taken off);
- an answer that plays nothing scores SILENT_SCORE: it is chosen only when all are silent.

The weights were set by measurement (`antiphon eval answers` over held-out calls,
docs/MODELS.md "Answers"): each term alone moves its own metric toward the real
continuation's, and together they lift relevance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.key_finding import call_notes

CRITIC_WEIGHT = 1.0
PROFILE_WEIGHT = 8.0
DENSITY_WEIGHT = 2.0
REGISTER_WEIGHT = 2.0
SILENT_SCORE = -1e6
DENSITY_FLOOR = 0.25  # notes per beat added to both sides of the ratio (a near-empty call)


class CallShape:
    """What an answer to one call is compared with: the call's pitch-class profile,
    density and register."""

    def __init__(self, call: Sequence[NoteEvent]) -> None:
        notes = call_notes(call)
        self.profile = _profile(notes)
        if notes:
            span = max(end for _, end, _ in notes) - notes[0][0]
            self.notes_per_beat = len(notes) * TICKS_PER_BEAT / max(span, TICKS_PER_BEAT)
            self.mean_pitch = float(np.mean([pitch for _, _, pitch in notes]))
        else:
            self.notes_per_beat, self.mean_pitch = 0.0, None

    def likeness(self, answer: Sequence[NoteEvent], length_ticks: int) -> float:
        """The metric part of an answer's score (module docstring); SILENT_SCORE for an
        answer without notes."""
        notes = call_notes(answer)
        if not notes:
            return SILENT_SCORE
        score = 0.0
        if self.profile is not None:
            score += PROFILE_WEIGHT * float(self.profile @ _profile(notes))
        per_beat = len(notes) * TICKS_PER_BEAT / max(length_ticks, 1)
        score -= DENSITY_WEIGHT * abs(np.log((per_beat + DENSITY_FLOOR)
                                             / (self.notes_per_beat + DENSITY_FLOOR)))
        if self.mean_pitch is not None:
            mean = float(np.mean([pitch for _, _, pitch in notes]))
            score -= REGISTER_WEIGHT * abs(mean - self.mean_pitch) / 12.0
        return score


def answer_scores(call: Sequence[NoteEvent], answers: Sequence[Sequence[NoteEvent]],
                  start_tick: int, length_ticks: int, critic=None) -> np.ndarray:
    """One score per answer to `call` (each over [start_tick, start_tick + length_ticks]);
    the highest is played. `critic`: a critic.Critic, or None to judge by the metrics."""
    shape = CallShape(call)
    scores = np.array([shape.likeness(answer, length_ticks) for answer in answers])
    if critic is not None and len(answers):
        scores = scores + CRITIC_WEIGHT * np.asarray(critic.score(call, answers, start_tick))
    return scores


def _profile(notes: list[tuple[int, int, int]]) -> np.ndarray | None:
    """Unit-length duration-weighted pitch-class profile, or None without notes."""
    weights = np.zeros(12)
    for start, end, pitch in notes:
        weights[pitch % 12] += end - start
    norm = np.linalg.norm(weights)
    return weights / norm if norm > 0 else None
