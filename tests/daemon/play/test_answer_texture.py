"""The answer's texture follows the call's (`--texture`), through the shipped default model,
as `antiphon continue` samples it (continuation.sample_answer) and `antiphon run` does: the
demo's single-line call gets a single-line answer, and with chords may get chords."""

from __future__ import annotations

import pytest

from antiphon.daemon.cli.demo import DEMO_CALL
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.play.continuation import new_session, sample_answer
from antiphon.daemon.service.daemon import loop_settings
from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.texture import call_texture
from antiphon.exported_models import MODELS_DIR

VARIATIONS = 6
ANSWER_TICKS = 8 * TICKS_PER_BEAT


@pytest.fixture(scope="module")
def model():
    from antiphon.engine.model import StepModel

    path = MODELS_DIR / "default.onnx"
    if not path.exists():
        pytest.skip(f"{path} is not shipped")
    return StepModel(path, device="cpu")


def demo_call() -> list[NoteEvent]:
    events = []
    for start, length, pitch, velocity in DEMO_CALL:
        events += [NoteEvent(round(start * TICKS_PER_BEAT), pitch, velocity),
                   NoteEvent(round((start + length) * TICKS_PER_BEAT), pitch, 0)]
    return sorted(events, key=lambda e: (e.tick, e.velocity > 0))


def most_sounding(events: list[NoteEvent]) -> int:
    """Most notes sounding at once (a release before a strike at the same tick)."""
    sounding, most = set(), 0
    for event in sorted(events, key=lambda e: (e.tick, e.velocity > 0)):
        (sounding.add if event.velocity else sounding.discard)(event.pitch)
        most = max(most, len(sounding))
    return most


def answers(model, texture: str) -> list[tuple[list[NoteEvent], str]]:
    settings = loop_settings(DaemonConfig(texture=texture, seed=1), shares_clock=True)
    call = demo_call()
    start = 8 * TICKS_PER_BEAT
    return [sample_answer(new_session(model, 1, variation), call, start, ANSWER_TICKS, settings)
            for variation in range(VARIATIONS)]


def test_the_demo_call_is_a_melody():
    assert call_texture(demo_call()).kind == "melody"


def test_a_single_line_call_gets_a_single_line_answer_by_default(model):
    assert DaemonConfig().texture == "auto"
    for events, chosen in answers(model, "auto"):
        assert chosen.startswith("melody: one voice")
        assert any(event.velocity for event in events)
        assert most_sounding(events) == 1


def test_with_chords_the_same_call_may_get_chords(model):
    found = answers(model, "chords")
    assert all(chosen.startswith("chords: any number") for _, chosen in found)
    assert max(most_sounding(events) for events, _ in found) >= 2


def test_a_bad_texture_is_a_config_error():
    with pytest.raises(ConfigError, match=r"--texture .*must be one of auto, melody, chords"):
        DaemonConfig(texture="bogus")
