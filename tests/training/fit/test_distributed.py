"""Data-parallel training: `torchrun` runs the same `antiphon` command in two processes
(CPU, gloo), which average their gradients; rank 0 alone writes the checkpoint."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training_fixtures import write_jsb_json  # noqa: E402

from antiphon.training.fit.checkpoint import load_checkpoint  # noqa: E402


@pytest.mark.slow
def test_torchrun_trains_with_the_same_command(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    antiphon = Path(sys.executable).with_name("antiphon")
    if not torchrun.exists() or not antiphon.exists():
        pytest.skip("torchrun or the antiphon script is not installed beside this Python")
    data = tmp_path / "jsb-chorales-quarter.json"
    write_jsb_json(data)
    run = tmp_path / "run"
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(antiphon),
               "train-frames", str(data), "--out", str(run), "--epochs", "2",
               "--steps-per-epoch", "5", "--batch-size", "2", "--window", "8",
               "--transpose", "0", "0", "--model-config", '{"hidden": 8, "nade_hidden": 4}']
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "data parallel: 2 processes (gloo)" in output
    assert output.count("epoch 2:") == 1  # rank 0 alone reports (and saves)
    _, checkpoint = load_checkpoint(run / "latest.pt")
    assert [entry["epoch"] for entry in checkpoint["metrics"]["history"]] == [1, 2]
    # Rank 0 alone scores the test split and rewrites best.pt (two writers raced here).
    assert output.count("test NLL") == 1
    _, best = load_checkpoint(run / "best.pt")
    assert math.isfinite(best["metrics"]["test_nll_per_frame"])
    assert not list(run.glob("*.tmp"))


def _one_step(rank: int, folder: str, port: int) -> None:
    from antiphon.training.families.rnn_nade import NadeConfig, RnnNadeModel
    from antiphon.training.fit.distributed import DistributedModel, join_world, leave_world

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    world = join_world("cpu")
    torch.manual_seed(0)
    model = RnnNadeModel(NadeConfig(keys=6, hidden=5, nade_hidden=4, dropout=0.0))
    wrapped = DistributedModel(model, world)
    torch.manual_seed(100 + rank)  # each process its own batch
    frames = (torch.rand(2, 5, 6) < 0.3).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    wrapped.frame_log_loss(torch.zeros_like(frames), frames).mean().backward()
    optimizer.step()
    torch.save(model.state_dict(), f"{folder}/rank{rank}.pt")
    leave_world(world)


def test_gradients_are_averaged_through_frame_log_loss(tmp_path):
    import socket

    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torch.multiprocessing.spawn(_one_step, args=(str(tmp_path), port), nprocs=2)
    from antiphon.training.families.rnn_nade import NadeConfig, RnnNadeModel

    first, second = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    torch.manual_seed(0)
    initial = RnnNadeModel(NadeConfig(keys=6, hidden=5, nade_hidden=4, dropout=0.0)).state_dict()
    for name in first:
        torch.testing.assert_close(first[name], second[name])  # different batches, same step
    assert any(not torch.equal(initial[n], v) for n, v in first.items())  # and it moved
