"""`antiphon bench train`: every family's training step is timed (small sizes here; the
figures themselves belong to docs/BENCHMARKS.md, not to assertions)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from antiphon.training.evaluation import bench_train  # noqa: E402


def tiny_specs(vocab_size: int) -> list[bench_train.FamilySpec]:
    small = {"vocab_size": vocab_size, "embedding": 8, "hidden": 16, "layers": 1}
    return [
        bench_train.FamilySpec("lstm", "recurrent", {**small, "cell": "lstm"}, 2, 16, "token"),
        bench_train.FamilySpec("transformer", "transformer",
                               {"vocab_size": vocab_size, "layers": 1, "heads": 2, "width": 16,
                                "window": 16}, 2, 16, "token"),
        bench_train.FamilySpec("nade", "rnn-nade", {"hidden": 16, "nade_hidden": 8}, 2, 16,
                               "frame"),
    ]


def test_every_family_gets_a_row(monkeypatch):
    monkeypatch.setattr(bench_train, "family_specs", tiny_specs)
    lines = bench_train.train_section(0.05, "antiphon bench train")
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[0] for row in rows] == ["| lstm", "| transformer", "| nade"]
    assert "frames/s" in rows[2] and "tokens/s" in rows[0]


def test_the_shipped_sizes_build():
    # The real specs must describe models the families accept (not timed: too slow here).
    from antiphon.training.fit.checkpoint import build_model

    for spec in bench_train.family_specs(321):
        assert sum(p.numel() for p in build_model(spec.family, spec.config).parameters()) > 0
