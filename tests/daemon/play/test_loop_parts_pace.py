"""GenerationPace: how much earlier a slow model's answer must begin sampling."""

import pytest

from antiphon.daemon.play.loop_parts import PACE_MARGIN, GenerationPace


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
    pace.reset()  # another model
    assert pace.lead_seconds(4, 0.5) == 0.0
