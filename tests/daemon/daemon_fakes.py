"""A stand-in for the engine's Session, for unit tests only (e2e tests use the real one).

It honours the Session contract the daemon relies on: `tick` is the latest event seen or
played, `observe` takes non-decreasing ticks >= tick (earlier ones are placed at the
present, as the engine does), `generate` streams an answer inside its window, releases
every note it strikes, and advances the tick to the window's end, and `rewind` takes the
tick back to where a barge-in cut the answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from antiphon.engine.constraints import PitchRules
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent


class FakeSession:
    def __init__(self, step_delay_seconds: float = 0.0, notes_per_beat: int = 2) -> None:
        self.tick = 0
        self.observed: list[NoteEvent] = []
        self.generated: list[tuple[int, int, float]] = []  # (start, length, temperature)
        self.step_delay_seconds = step_delay_seconds  # simulate a slow model
        self.notes_per_beat = notes_per_beat
        self.fail_on_generate: Exception | None = None
        self.rewinds: list[int] = []  # ticks the daemon rewound to
        self.opening_rests: list[int | None] = []  # max_opening_rest_ticks per answer
        self.top_ps: list[float] = []
        self.rules: list[PitchRules | None] = []  # the pitch rules per answer

    def observe(self, events: Sequence[NoteEvent]) -> None:
        for event in events:
            tick = max(event.tick, self.tick)
            self.observed.append(NoteEvent(tick, event.pitch, event.velocity))
            self.tick = tick

    def advance_to(self, tick: int) -> None:  # a silence passes (a swapped-in session)
        self.tick = max(self.tick, tick)

    def rewind(self, tick: int) -> None:
        self.rewinds.append(tick)
        self.tick = min(self.tick, max(tick, 0))

    def generate(
        self, start_tick: int, length_ticks: int, temperature: float = 1.0,
        max_opening_rest_ticks: int | None = None,
        rules: PitchRules | None = None,
        top_p: float = 1.0,
    ) -> Iterator[NoteEvent]:
        if self.fail_on_generate is not None:
            raise self.fail_on_generate
        self.opening_rests.append(max_opening_rest_ticks)
        self.rules.append(rules)
        self.generated.append((start_tick, length_ticks, temperature))
        self.top_ps.append(top_p)
        start = max(start_tick, self.tick)
        end = start + length_ticks
        step = TICKS_PER_BEAT // self.notes_per_beat
        pitch = 72
        for tick in range(start, end, step):
            if self.step_delay_seconds:
                time.sleep(self.step_delay_seconds)
            off = min(tick + step - 2, end)
            self.tick = tick
            yield NoteEvent(tick, pitch, 90)
            self.tick = off
            yield NoteEvent(off, pitch, 0)
            pitch = 72 + (pitch - 72 + 2) % 12
        self.tick = end
