"""GenerationPace: how much earlier a slow model's answer must begin sampling."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from antiphon.daemon.play.loop_parts import MODELS_PACED, PACE_MARGIN, GenerationPace


class ModelSession:
    """A session as the pace sees it: a model with a file and a device."""

    def __init__(self, path: str, device: str = "cpu") -> None:
        self.model = SimpleNamespace(path=Path(path), device=device)


def test_an_unknown_or_fast_model_needs_no_lead():
    pace = GenerationPace()
    assert pace.lead_seconds(4, 0.5) == 0.0
    pace.record(0.4, 4)  # 0.1 s a beat, playing at 0.5 s a beat
    assert pace.lead_seconds(4, 0.5) == 0.0


def test_a_slow_model_leads_by_what_it_falls_behind_and_a_slower_answer_counts_at_once():
    pace = GenerationPace()
    pace.record(4.0, 4)  # 1 s a beat against 0.5 s a beat
    assert pace.lead_seconds(4, 0.5) == pytest.approx((PACE_MARGIN - 0.5) * 4)
    pace.record(8.0, 4)  # slower still: taken at once
    assert pace.seconds_per_beat == 2.0
    pace.record(0.0, 4)  # faster: half way
    assert pace.seconds_per_beat == 1.0
    pace.use(ModelSession("other.onnx"))  # another model
    assert pace.lead_seconds(4, 0.5) == 0.0


def test_a_model_swapped_back_in_keeps_the_pace_learnt_of_it():
    pace = GenerationPace()
    slow, fast = ModelSession("big.onnx"), ModelSession("small.onnx")
    pace.use(slow)
    pace.record(4.0, 4)
    pace.use(fast)
    assert pace.seconds_per_beat is None
    pace.record(0.4, 4)
    pace.use(ModelSession("big.onnx"))  # loaded anew from the same file
    assert pace.seconds_per_beat == 1.0
    pace.use(ModelSession("big.onnx", device="cuda"))  # on a GPU it is another speed
    assert pace.seconds_per_beat is None
    pace.use(fast)
    assert pace.seconds_per_beat == pytest.approx(0.1)


def test_a_session_with_no_model_file_is_learnt_afresh_each_time():
    pace = GenerationPace()
    pace.use(object())
    pace.record(4.0, 4)
    pace.use(object())
    assert pace.seconds_per_beat is None


def test_only_the_latest_models_paces_are_kept():
    pace = GenerationPace()
    for index in range(MODELS_PACED + 1):
        pace.use(ModelSession(f"{index}.onnx"))
        pace.record(4.0, 4)
    pace.use(ModelSession("0.onnx"))  # the longest unused was forgotten
    assert pace.seconds_per_beat is None
    pace.use(ModelSession(f"{MODELS_PACED}.onnx"))
    assert pace.seconds_per_beat == 1.0
