"""Checkpoints are plain data read by torch's weights-only unpickler: a hostile `.pt` file
is refused (by the loader and by the commands that open one) without running its code,
every family's checkpoint round-trips with its config, and runs still resume."""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training_fixtures import write_tune  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antiphon.daemon.cli.app import app  # noqa: E402
from antiphon.engine.codec import EventCodec  # noqa: E402
from antiphon.engine.events import NoteEvent  # noqa: E402
from antiphon.engine.pianoroll import PianoRollCodecConfig  # noqa: E402
from antiphon.training.data.melodies import grid_tokens, note_sequence  # noqa: E402
from antiphon.training.data.tokens import encode_pieces  # noqa: E402
from antiphon.training.evaluation.frame_models import is_frame_model  # noqa: E402
from antiphon.training.families.small_models import (  # noqa: E402
    DURATION_BOS,
    GRID_BOS,
    PITCH_BOS,
    MelodyTask,
    PitchDurationTask,
    flat_split,
)
from antiphon.training.fit.checkpoint import (  # noqa: E402
    CHECKPOINT_FORMAT,
    FAMILIES,
    add_test_metrics,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from antiphon.training.fit.frame_pipeline import FrameTask  # noqa: E402
from antiphon.training.fit.loop import TokenTask, train_task  # noqa: E402
from antiphon.training.fit.small_pipeline import is_small_model  # noqa: E402
from antiphon.training.fit.train_config import TrainConfig  # noqa: E402

TINY = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=2, window=16, warmup_steps=1,
                   transpose=(-2, 3))


class Hostile:
    """Unpickled by the ordinary unpickler, it creates `marker`: any code could run there."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def write_hostile(path: Path, marker: Path, zipped: bool = True) -> Path:
    """A file that looks like a checkpoint (torch's zip format, or a bare pickle)."""
    payload = {"format": CHECKPOINT_FORMAT, "family": "recurrent", "evil": Hostile(marker)}
    if zipped:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    return path


@pytest.mark.parametrize("zipped", [True, False], ids=["torch-zip", "bare-pickle"])
def test_the_loader_refuses_a_hostile_checkpoint_without_running_it(tmp_path, zipped):
    marker = tmp_path / "pwned"
    path = write_hostile(tmp_path / "hostile.pt", marker, zipped)
    for load in (read_checkpoint, load_checkpoint, is_frame_model, is_small_model):
        with pytest.raises(ValueError, match="not a plain-data checkpoint") as refused:
            load(path)
        message = str(refused.value)
        assert str(path) in message and "refusing to load it" in message
        assert "\n" not in message and "weights_only" not in message  # not torch's page
    if zipped:
        assert "it pickles exec" in str(refused.value)
    assert not marker.exists()


def test_a_checkpoint_that_pickled_objects_is_refused_by_name(tmp_path):
    # What an older writer would have left: the dataclass itself, not a dict of it.
    path = tmp_path / "old.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "train_config": TrainConfig()}, path)
    with pytest.raises(ValueError, match=r"old\.pt is not a plain-data checkpoint "
                       r"\(it pickles antiphon\.training\.fit\.train_config\.TrainConfig\)"):
        read_checkpoint(path)


@pytest.mark.parametrize("command", ["export", "eval", "bridge"])
def test_the_commands_refuse_a_hostile_checkpoint_in_one_line(tmp_path, monkeypatch,
                                                              command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")  # the error line is not wrapped
    marker = tmp_path / "pwned"
    write_hostile(Path("hostile.pt"), marker)
    write_tune(Path("a.mid"), 60, bars=1)
    arguments = {"export": ["export", "hostile.pt", "--out", "x.onnx"],
                 "eval": ["eval", "hostile.pt", "--midi-dir", "."],
                 "bridge": ["bridge", "a.mid", "a.mid", "--checkpoint", "hostile.pt"]}
    result = CliRunner().invoke(app, arguments[command])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: hostile.pt is not a plain-data"), (
        result.output)
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # typer.Exit, no other exception
    assert not marker.exists()
    assert not Path("x.onnx").exists()


def arpeggios(count: int, seed: int) -> list[list[NoteEvent]]:
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(count):
        root, tick, events = int(rng.integers(52, 68)), 0, []
        for step in (0, 4, 7, 12, 7, 4) * 3:
            events += [NoteEvent(tick, root + step, 80), NoteEvent(tick + 6, root + step, 0)]
            tick += 6
        pieces.append(events)
    return pieces


def rolls(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((16, 8)) > 0.7 for _ in range(count)]


def melody_lines(count: int) -> list[list[tuple[int, int, int]]]:
    return [[(2 * i, 2 * i + 1 + i % 2, 60 + (i + shift) % 7) for i in range(12)]
            for shift in range(count)]


PIANO_ROLL_FAMILIES = ("rnn-nade", "lstm-vae", "transformer-vae", "gru-seq2seq", "bar-gan")


def family_task(family: str):
    """A tiny task for `family`, and a model config with a non-default field or two."""
    if family in ("recurrent", "transformer"):
        codec = EventCodec()
        splits = {"train": encode_pieces(arpeggios(8, 0), codec),
                  "valid": encode_pieces(arpeggios(2, 1), codec)}
        config = ({"cell": "gru", "hidden": 8, "embedding": 4, "layers": 1}
                  if family == "recurrent" else
                  {"layers": 1, "heads": 1, "width": 8, "window": 4})
        return TokenTask(codec, splits), config
    if family in PIANO_ROLL_FAMILIES:
        codec = PianoRollCodecConfig(keys=8, lowest_pitch=60, distinguish_onsets=False)
        config = {"rnn-nade": {"hidden": 8, "nade_hidden": 4},
                  "lstm-vae": {"hidden": 8, "latent": 2, "free_bits": 0.25},
                  "transformer-vae": {"width": 8, "heads": 2, "encoder_layers": 1,
                                      "decoder_layers": 1, "latent": 2, "window": 4},
                  "gru-seq2seq": {"hidden": 8, "phrase": 4, "focal_gamma": 1.0},
                  "bar-gan": {"bar_frames": 8, "noise": 4, "width": 4, "critic_width": 4}
                  }[family]
        return FrameTask({"train": rolls(6, 0), "valid": rolls(2, 1)}, codec), config
    lines = melody_lines(6)
    if family == "melody-lstm":
        pieces = [grid_tokens(line) for line in lines]
        bos = np.array(GRID_BOS)
        task = MelodyTask({"train": flat_split(pieces[:4], bos),
                           "valid": flat_split(pieces[4:], bos)})
        return task, {"embedding": 4, "hidden": 8}
    pieces = [note_sequence(line) for line in lines]
    bos = np.array([PITCH_BOS, DURATION_BOS])
    task = PitchDurationTask({"train": flat_split(pieces[:4], bos),
                              "valid": flat_split(pieces[4:], bos)})
    return task, {"pitch_embedding": 4, "duration_embedding": 2, "hidden": 8}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def trained(request, tmp_path_factory):
    family = request.param
    run = tmp_path_factory.mktemp(family)
    task, model_config = family_task(family)
    data = {"sources": ["tiny"], "folder": run, "frames_per_beat": np.int64(4)}
    best = train_task(run, task, model_config, TINY, data=data,
                      baselines={"test_unigram_nll": np.float64(1.25)}, family=family)
    return family, run, best, model_config


def test_every_familys_checkpoint_round_trips_with_its_config(trained):
    family, run, best, model_config = trained
    raw = torch.load(best, map_location="cpu", weights_only=True)  # torch's own check
    assert raw["format"] == CHECKPOINT_FORMAT and raw["family"] == family
    config_class, model_class = FAMILIES[family]
    model, checkpoint = load_checkpoint(best)
    assert type(model) is model_class and type(model.config) is config_class
    assert model_config.items() <= checkpoint["model_config"].items()
    assert asdict(model.config) == checkpoint["model_config"]  # every field, rebuilt
    assert checkpoint["train_config"] == asdict(TINY)
    assert checkpoint["train_config"]["transpose"] == (-2, 3)
    # numpy scalars and paths went in as plain Python values
    assert checkpoint["data"] == {"sources": ["tiny"], "folder": str(run),
                                  "frames_per_beat": 4}
    assert type(checkpoint["data"]["frames_per_beat"]) is int
    assert type(checkpoint["metrics"]["test_unigram_nll"]) is float
    assert checkpoint["codec"] == raw["codec"] and checkpoint["codec"]
    state = model.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in raw["model"].items())

    # Written again with test figures (numpy ones included), read again: all still there.
    copy = run / "copy.pt"
    copy.write_bytes(best.read_bytes())
    metrics = add_test_metrics(copy, lambda _: {"test_nll": np.float32(0.5),
                                                "test_counts": np.arange(3)})
    assert metrics["test_nll"] == 0.5 and metrics["test_counts"] == [0, 1, 2]
    again, reread = load_checkpoint(copy)
    assert reread["model_config"] == checkpoint["model_config"]
    assert reread["train_config"] == checkpoint["train_config"]
    assert type(reread["metrics"]["test_nll"]) is float
    assert all(torch.equal(again.state_dict()[name], tensor) for name, tensor in state.items())
    assert is_frame_model(copy) == (family in PIANO_ROLL_FAMILIES)
    assert is_small_model(copy) == family.endswith("-lstm")


def test_a_run_resumes_from_its_folder(tmp_path):
    task, model_config = family_task("recurrent")
    train_task(tmp_path, task, model_config, TINY, family="recurrent")
    first = read_checkpoint(tmp_path / "latest.pt")
    reports = []
    more = replace(TINY, epochs=3)
    train_task(tmp_path, task, model_config, more, family="recurrent",
               on_epoch=reports.append)
    assert [r.epoch for r in reports] == [2, 3]
    latest = read_checkpoint(tmp_path / "latest.pt")
    assert latest["epoch"] == 3 and latest["step"] == 3 * TINY.steps_per_epoch
    assert [h["epoch"] for h in latest["metrics"]["history"]] == [1, 2, 3]
    assert latest["scheduler"]["last_epoch"] == 3 * TINY.steps_per_epoch  # carried on
    assert first["optimizer"]["state"] and latest["optimizer"]["state"]


def test_a_hostile_latest_checkpoint_stops_a_resume_without_running(tmp_path):
    task, model_config = family_task("recurrent")
    marker = tmp_path / "pwned"
    write_hostile(tmp_path / "latest.pt", marker)
    with pytest.raises(ValueError, match="latest.pt is not a plain-data checkpoint"):
        train_task(tmp_path, task, model_config, TINY, family="recurrent")
    assert not marker.exists()


@dataclass
class Settings:
    path: Path
    rate: float


def test_save_writes_plain_equivalents_and_refuses_other_objects(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, settings=Settings(Path("a/b"), np.float64(0.5)),
                    pair=(np.int32(1), "x"), keys={"a"}, grid=np.eye(2))
    checkpoint = read_checkpoint(path)
    assert checkpoint["settings"] == {"path": "a/b", "rate": 0.5}
    assert checkpoint["pair"] == (1, "x") and type(checkpoint["pair"][0]) is int
    assert checkpoint["keys"] == ["a"] and checkpoint["grid"] == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(TypeError, match=r"checkpoint\['bad'\]\[0\]: a object is not plain"):
        save_checkpoint(tmp_path / "bad.pt", bad=[object()])
    assert not list(tmp_path.glob("bad*"))  # nothing written, not even a temporary file


def test_unreadable_files_are_clear_errors(tmp_path):
    empty, garbage = tmp_path / "empty.pt", tmp_path / "garbage.pt"
    empty.write_bytes(b"")
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="empty.pt is not a readable checkpoint"):
        read_checkpoint(empty)
    with pytest.raises(ValueError, match="garbage.pt is not a plain-data checkpoint"):
        read_checkpoint(garbage)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "missing.pt")
    other = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, other)  # plain, but not an Antiphon checkpoint
    with pytest.raises(ValueError, match="weights.pt is not an Antiphon checkpoint"):
        read_checkpoint(other)
