"""key_fit: the finder's weights are fitted, written into key_weights.py and read back
exactly, and the declaring threshold keeps a safety margin on its precision."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("torch")

from antiphon.engine.key_finding import FEATURES, key_features, key_scores  # noqa: E402
from antiphon.training.evaluation.key_fit import (  # noqa: E402
    NEVER,
    FinderWeights,
    fit_weights,
    lower_bound,
    posteriors,
    threshold,
    write_weights,
)


def test_a_threshold_needs_the_lower_end_of_the_precision_to_reach_the_target():
    probability = np.linspace(1.0, 0.01, 100)
    # the 100 surest calls all right: declared from the last of them
    assert threshold(probability, np.ones(100), 0.9) == pytest.approx(0.01)
    # 90 % right over 100 calls is not enough: the interval's lower end is below 90 %
    right = (np.arange(100) % 10 != 9).astype(float)
    assert right.mean() == 0.9 and threshold(probability, right, 0.9) == NEVER
    # a run of right calls at the top, then misses: declared down to where the bound holds
    right = np.r_[np.ones(60), np.zeros(40)]
    cut = threshold(probability, right, 0.9)
    declared = probability >= cut
    assert right[declared].sum() == 60 and right[declared].mean() >= 0.9
    assert lower_bound(60, int(declared.sum())) >= 0.9 > lower_bound(60, int(declared.sum()) + 1)
    assert lower_bound(45, 50) < 0.9 < 45 / 50 + 1e-9
    assert lower_bound(0, 0) == 0.0


def test_the_written_weights_are_read_back_and_score_as_the_finder_does(tmp_path):
    rng = np.random.default_rng(0)
    weights = FinderWeights(rng.normal(size=FEATURES), rng.normal(size=(FEATURES, 4)),
                            rng.normal(size=4), rng.normal(size=4))
    path = tmp_path / "key_weights_written.py"
    write_weights(path, weights, 0.75, "Fitted on nothing: a test of the format.")
    spec = importlib.util.spec_from_file_location("key_weights_written", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DECLARE_AT == 0.75 and module.HIDDEN_WEIGHTS.shape == (FEATURES, 4)
    assert np.allclose(module.WEIGHTS, weights.linear, atol=1e-6)
    assert np.allclose(module.HIDDEN_WEIGHTS, weights.hidden, atol=1e-6)
    assert max(len(line) for line in path.read_text().splitlines()) <= 100
    # key_fit's posteriors are key_finding's forward pass
    from antiphon.engine import key_finding
    from antiphon.engine.events import NoteEvent

    call = [NoteEvent(0, 62, 90), NoteEvent(24, 62, 0), NoteEvent(24, 66, 90),
            NoteEvent(48, 66, 0), NoteEvent(48, 69, 90), NoteEvent(96, 69, 0)]
    features = key_features(call)
    shipped = FinderWeights(key_finding.WEIGHTS, key_finding.HIDDEN_WEIGHTS,
                            key_finding.HIDDEN_BIAS, key_finding.OUTPUT_WEIGHTS)
    expected = np.exp(key_scores(features) - key_scores(features).max())
    assert np.allclose(posteriors(features[None], shipped)[0], expected / expected.sum())


def test_the_fit_learns_a_key_the_features_point_at():
    """One feature marks the true key among noise: the fit finds it."""
    rng = np.random.default_rng(1)
    features = rng.normal(scale=0.1, size=(500, 24, FEATURES)).astype(np.float32)
    truth = rng.integers(0, 24, 500)
    features[np.arange(500), truth, 5] += 3.0  # one feature marks the true key
    weights = fit_weights(features, truth, hidden=4, epochs=40)
    assert (posteriors(features, weights).argmax(axis=1) == truth).mean() > 0.9
