"""`antiphon eval-keys`: the key finder scored on two-bar calls of held-out folk tunes."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("music21")

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.events import TICKS_PER_BEAT  # noqa: E402
from antiphon.training.data.corpus import split_of  # noqa: E402
from antiphon.training.evaluation.key_calls import Tune, load_tunes, tune_key  # noqa: E402

TUNES = 6  # parsed once per test session into a cache of its own: a few seconds


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("antiphon-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANTIPHON_CACHE", str(folder))
        load_tunes("essenFolksong", "test", TUNES, workers=1)
    return folder


def test_calls_are_held_out_tunes_cut_after_two_bars_and_cached(cache):
    tunes = load_tunes("essenFolksong", "test", TUNES, cache_dir=cache, workers=1)
    assert len(tunes) == TUNES
    assert all(split_of(tune.id) == "test" for tune in tunes)  # never a training tune
    assert list(cache.glob("keycalls-essenFolksong-test-first6-*.npz"))
    for tune in tunes:
        call = tune.call(2)
        end = tune.call_end(2)
        assert call and max(event.tick for event in call) <= end
        # two bars of the tune's metre, after a pickup shorter than a bar, if any
        pickup = end - 2 * tune.bar_ticks
        assert 0 <= pickup < tune.bar_ticks
        assert tune.notes[:, 0].max() >= end  # the tune goes on after its call


def test_the_truth_is_the_final_note_and_the_third_the_tune_dwells_on():
    beat = TICKS_PER_BEAT
    # A tune in A minor: C (its minor third) sounds longer than C#; it ends on A.
    notes = np.array([[0, beat, 69], [beat, 3 * beat, 72], [3 * beat, 4 * beat, 73],
                      [4 * beat, 5 * beat, 64], [5 * beat, 6 * beat, 57]])
    assert tune_key(notes) == tune_key(notes[::-1].copy())
    key = tune_key(notes)
    assert (key.tonic, key.mode) == (9, "minor")
    # the same ending with the major third longer: A major
    notes[2, 1] = 6 * beat
    assert tune_key(notes).mode == "major"
    # a pickup: the call starts with it and counts two whole bars after it
    tune = Tune("x", notes[:, :3], 4 * beat, np.array([0, beat, 5 * beat, 9 * beat]))
    assert tune.call_end(2) == 9 * beat and tune.call_end(1) == 5 * beat


def test_the_command_prints_exact_declared_and_precision_beside_music21(cache, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(cache))
    result = CliRunner().invoke(app, ["eval-keys", "--corpus", "essenFolksong",
                                      "--limit", str(TUNES), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert f"first 2 bars of {TUNES} tunes" in result.output
    rows = {line.split("|")[1].strip(): line for line in result.output.splitlines()
            if line.startswith("| ") and "%" in line}
    assert {"antiphon (engine/key_finding.py)", "music21 Krumhansl-Schmuckler",
            "music21 Aarden-Essen", "music21 Temperley-Kostka-Payne",
            "Temperley Bayesian (pitch-class set)"} <= set(rows)
    ours = re.findall(r"(\d+\.\d)%", rows["antiphon (engine/key_finding.py)"])
    assert len(ours) >= 2 and all(0 <= float(value) <= 100 for value in ours)
    # and the targets asked of the finder, with whether they are met
    assert "Targets on the test split: exact >= 70%" in result.output
    target = rows[f"essenFolksong ({TUNES} calls)"]
    assert target.split("|")[2].strip() == ours[0] + "%"  # its exact share, as above
    assert target.rstrip(" |").endswith(("yes", "no"))


def test_the_targets_are_pooled_over_collections_and_met_only_all_together():
    from antiphon.training.evaluation.key_accuracy import (
        CollectionScores,
        format_targets,
        target_figures,
    )

    def scores(corpus, ours):
        return CollectionScores(corpus, "valid", 2, len(ours), [], ours=ours)

    sure = scores("a", [(True, True)] * 9 + [(False, True)] + [(True, False)] * 20)
    unsure = scores("b", [(True, False)] * 7 + [(False, False)] * 3)
    assert target_figures([sure]) == {"exact": 29 / 30, "declared": 10 / 30,
                                      "precision": 0.9}
    pooled = target_figures([sure, unsure])
    assert pooled["exact"] == 36 / 40 and pooled["declared"] == 10 / 40
    text = format_targets([sure, unsure])
    lines = {line.split("|")[1].strip(): line for line in text.splitlines()
             if line.startswith("| ") and "%" in line}
    assert lines["a (30 calls)"].endswith("| yes |")
    assert lines["b (10 calls)"].endswith("| no |") and "n/a" in lines["b (10 calls)"]
    assert lines["all (40 calls)"].endswith("| no |")  # a quarter declared, not a third


def test_a_collection_that_is_not_one_is_one_line_of_error(cache, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(cache))
    result = CliRunner().invoke(app, ["eval-keys", "--corpus", "noSuchCollection",
                                      "--limit", "2"])
    assert result.exit_code == 1
    assert "noSuchCollection" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["eval-keys", "--split", "train", "--limit", "2"])
    assert result.exit_code == 1 and "--split must be test or valid" in result.output
    assert "Traceback" not in result.output


def test_a_keys_scale_holds_a_tune_when_the_tune_keeps_to_it():
    from antiphon.engine.events import NoteEvent
    from antiphon.training.evaluation.key_accuracy import scale_holds_tune

    beat = TICKS_PER_BEAT
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    call = [event for i, pitch in enumerate(d_major) for event in
            (NoteEvent(i * beat, pitch, 80), NoteEvent((i + 1) * beat, pitch, 0))]
    tune = np.array([[i * beat, (i + 1) * beat, pitch] for i, pitch in enumerate(d_major * 3)])
    assert scale_holds_tune(call, tune)  # ending on E (its second) or not: the scale holds
    tune[::4, 2] = 60  # a C natural every fourth note: a quarter of the tune outside D major
    assert not scale_holds_tune(call, tune)
