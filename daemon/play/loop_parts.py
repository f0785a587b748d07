"""What the interaction loop is made of besides its thread: the session it talks to
(`AnswerSession`, what the engine's sessions provide), the settings it can be retuned to,
its counters, and the calls other threads make run on its thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from antiphon.daemon.midi.wire import is_note, is_note_on, sustain_state
from antiphon.daemon.play.interaction import PhrasePolicy
from antiphon.engine.constraints import PitchRules
from antiphon.engine.events import NoteEvent

RECENT_ANSWERS = 1000  # per-answer figures kept for status (bounded: a service runs for weeks)
MODELS_PACED = 32  # models whose pace is kept (a config lists a handful)
PACE_MARGIN = 1.25  # sampling may run this much slower than the last answers' before notes are late


class AnswerSession(Protocol):
    """What the loop needs from an engine Session."""

    @property
    def tick(self) -> int: ...

    def observe(self, events: Sequence[NoteEvent]) -> None: ...

    def generate(
        self, start_tick: int, length_ticks: int, temperature: float = 1.0,
        max_opening_rest_ticks: int | None = None,
        rules: PitchRules | None = None,
        top_p: float = 1.0,
    ) -> Iterator[NoteEvent]: ...

    def rewind(self, tick: int) -> None: ...

    def advance_to(self, tick: int) -> None: ...

    @property
    def model(self) -> Any: ...  # the StepModel, whose card says what plays


@dataclass(frozen=True)
class LoopSettings:
    """What a running loop can be retuned to (`InteractionLoop.retune`)."""

    policy: PhrasePolicy
    temperature: float = 1.0
    top_p: float = 1.0
    channel: int = 0  # 0..15
    max_opening_rest_beats: float | None = None
    rules: PitchRules | None = None
    follow_call: bool = False  # narrow `rules` to each call's key and range (scale "auto")
    candidates: int = 1  # answers drawn per call, the best played (answering.py)


class LoopCall:
    """A function to run on the loop's thread, between two events (never mid-answer)."""

    __slots__ = ("function", "future")

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function
        self.future: Future = Future()

    def run(self) -> None:
        try:
            self.future.set_result(self.function())
        except Exception as err:  # the caller gets it from the future
            self.future.set_exception(err)


@dataclass
class GenerationPace:
    """How long the session takes to sample a beat of answer, against how long a beat
    plays. A model slower than the tempo (a big one on a small CPU, a fast tempo) streams
    its answer behind its own notes: every note after the first few would leave late. So
    its answer starts later, on a later grid point, by the time it will fall behind, and
    then plays in time. Learnt from the answers sampled to their end (a slower one counts at
    once, a faster one by halves), per model: a model swapped back in starts at the pace
    learnt of it before (`use`), so its first answer is not late again."""

    seconds_per_beat: float | None = None
    _model: Hashable | None = None  # whose pace this is; None: a model known by no name
    _learnt: dict = field(default_factory=dict)  # model -> seconds per beat, latest last

    def record(self, seconds: float, beats: float) -> None:
        if beats <= 0:
            return
        rate = seconds / beats
        known = self.seconds_per_beat
        self.seconds_per_beat = rate if known is None else max(rate, (known + rate) / 2)
        if self._model is not None:
            self._learnt.pop(self._model, None)
            self._learnt[self._model] = self.seconds_per_beat
            while len(self._learnt) > MODELS_PACED:
                del self._learnt[next(iter(self._learnt))]  # the longest unused

    def use(self, session: AnswerSession) -> None:
        """Answers come from `session`'s model from now on."""
        self._model = model = model_identity(session)
        self.seconds_per_beat = None if model is None else self._learnt.get(model)

    def lead_seconds(self, beats: float, playback_seconds_per_beat: float) -> float:
        """How much earlier than its first note an answer of `beats` must begin sampling
        for its last note to be on time."""
        if self.seconds_per_beat is None:
            return 0.0
        behind = self.seconds_per_beat * PACE_MARGIN - playback_seconds_per_beat
        return max(0.0, behind * beats)


def cuts_an_answer(item: object) -> bool:
    """Whether an inbox item stops an answer being sampled: STOP (None), a struck note, a
    transport message (the player or the DAW came in). Not a call (LoopCall), a released
    key or a pedal move: the state machine decides what those mean once it is sampled."""
    if isinstance(item, LoopCall):
        return False
    if not isinstance(item, tuple):
        return True
    message = item[1]
    return not ((is_note(message) and not is_note_on(message))
                or sustain_state(message) is not None)


def model_identity(session: AnswerSession) -> Hashable | None:
    """Which model a session samples, for its pace: its file and where it runs (a GPU
    samples faster); None for a session whose model has no file (a stand-in)."""
    model = getattr(session, "model", None)
    path = getattr(model, "path", None)
    return None if path is None else (str(path), getattr(model, "device", "cpu"))


@dataclass
class LoopStats:
    phrases_heard: int = 0  # calls that ended in a silence
    answers_finished: int = 0  # answers that played to their end
    barge_ins: int = 0  # answers cut short by the player
    late_answers: int = 0  # answers pushed to a later grid point (generation too slow)
    late_beats: float = 0.0  # how far, in all
    late_events: int = 0  # answer events generated after their due time
    # Per answer, the latest RECENT_ANSWERS: generating it; its first note's due time minus
    # when it was scheduled; the decision (the call is over) to its first note's due time.
    generation_seconds: deque = field(default_factory=lambda: deque(maxlen=RECENT_ANSWERS))
    headroom_seconds: deque = field(default_factory=lambda: deque(maxlen=RECENT_ANSWERS))
    latency_seconds: deque = field(default_factory=lambda: deque(maxlen=RECENT_ANSWERS))
