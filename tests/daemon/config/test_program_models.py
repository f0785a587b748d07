"""`program_models` is checked as `--model` is: every model a program change could ask for
is found and loads (file, card, trial step) at start, at a reload and at `antiphon set
program_models`, so a missing or broken one is said then, not when the player presses a
program button on stage. A refusal changes nothing.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.models import check_program_models, default_model
from antiphon.daemon.control.controller import Controller


def bad_models(folder) -> dict[str, str]:
    """A missing file, random bytes named .onnx, and a valid ONNX graph that is no model
    (no card): each a way a program's model can fail to play."""
    corrupt = folder / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(3).bytes(4096))
    plain = folder / "plain.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), plain)
    return {"missing": str(folder / "gone.onnx"), "corrupt": str(corrupt),
            "no model": str(plain), "no such name": "no-such-model"}


@pytest.fixture(params=["missing", "corrupt", "no model", "no such name"])
def bad_model(request, tmp_path) -> str:
    return bad_models(tmp_path)[request.param]


def test_a_bad_program_model_is_refused_naming_the_program(bad_model):
    with pytest.raises(ConfigError) as caught:
        check_program_models(DaemonConfig(program_models=f"default, {bad_model}"))
    assert caught.value.field == "program_models"
    assert f"program 2 ({bad_model!r}) cannot play" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_good_program_models_pass_and_are_not_loaded_twice(monkeypatch):
    config = DaemonConfig(program_models="default, nade-nottingham")
    check_program_models(config)
    import antiphon.engine.model as engine_model

    def no_load(*args, **kwargs):
        raise AssertionError("loaded again")

    monkeypatch.setattr(engine_model, "StepModel", no_load)
    check_program_models(config)  # the same files, unchanged: taken as checked


def controller(config: DaemonConfig, reread=None) -> Controller:
    daemon = SimpleNamespace(config=config, apply_config=None)
    return Controller(daemon, reread or (lambda: config), load_model=None)


def test_set_program_models_refuses_a_bad_model_and_changes_nothing(bad_model):
    control = controller(DaemonConfig(program_models="default"))
    answer = control.handle({"command": "set", "key": "program_models",
                             "value": f"default, {bad_model}"})
    assert not answer["ok"] and "program 2" in answer["error"], answer
    assert control.daemon.config.program_models == "default"


def test_a_reload_refuses_a_program_model_broken_since_the_start(tmp_path):
    model = tmp_path / "mine.onnx"
    model.write_bytes(open(bad_models(tmp_path)["no model"], "rb").read())
    config = DaemonConfig(program_models=f"default, {model}")
    control = controller(DaemonConfig(), reread=lambda: config)
    answer = control.handle({"command": "reload"})
    assert not answer["ok"] and "reload refused" in answer["error"], answer
    assert f"program 2 ({str(model)!r})" in answer["error"]
    assert control.daemon.config.program_models is None


def test_run_refuses_a_bad_program_model_at_start_in_one_line(bad_model, tmp_path):
    from antiphon.daemon.cli.app import app

    result = CliRunner().invoke(app, [
        "run", "--program-models", f"default,{bad_model}", "--control-socket",
        str(tmp_path / "c.sock"), "--no-panic-on-start"], env={**os.environ})
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "--program-models" in said and "program 2" in said, said
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_program_model_that_is_no_regular_file_is_refused_at_once(kind, tmp_path):
    """A FIFO named like a model must never be opened: reading it would hang the daemon."""
    import threading

    path = tmp_path / "odd.onnx"
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    caught = []
    checker = threading.Thread(target=lambda: caught.append(pytest.raises(
        ConfigError, check_program_models, DaemonConfig(program_models=f"default, {path}"))))
    checker.start()
    checker.join(60)
    assert not checker.is_alive(), "the check hung on the model's path"
    said = str(caught[0].value)
    assert "program 2" in said and ("a folder" if kind == "folder" else "pipe") in said


@pytest.mark.parametrize("change", ["deleted", "overwritten"])
def test_a_program_model_that_goes_bad_after_its_check_is_refused_at_the_program_change(
        change, tmp_path, caplog):
    """Checked at start, then deleted or overwritten before the player presses its program
    button: that program change is refused with a line in the log, the old model plays on,
    and the knobs thread goes on taking messages."""
    from daemon_helpers import wait_until

    from antiphon import exported_models
    from antiphon.daemon.control.knobs import Knobs
    from antiphon.daemon.service.startup import load_session

    mine = tmp_path / "mine.onnx"
    mine.write_bytes(exported_models.default_model_path().read_bytes())
    config = DaemonConfig(program_models=f"default, {mine}", device="cpu")
    check_program_models(config)
    if change == "deleted":
        mine.unlink()
    else:
        mine.write_bytes(b"\0" * 4096)
    daemon = SimpleNamespace(config=config)
    control = Controller(daemon, lambda: config, load_session)
    knobs = Knobs(control)
    knobs.start()
    try:
        with caplog.at_level("WARNING"):
            knobs([0xC0, 1])  # program 2
            assert wait_until(lambda: knobs.carried_out == 1, 60)
            knobs([0xC0, 1])  # and again: the thread lives on
            assert wait_until(lambda: knobs.carried_out == 2, 60)
    finally:
        knobs.stop()
    assert daemon.config.model is None  # the old model, untouched
    refused = [r.getMessage() for r in caplog.records if "from the keyboard refused" in
               r.getMessage()]
    assert len(refused) == 2 and "old one keeps playing" in refused[0], caplog.text
    assert "Traceback" not in caplog.text


def test_a_relative_model_path_not_found_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_program_models(DaemonConfig(program_models="default, models/mine.onnx"))
    assert f"working folder {tmp_path}" in str(caught.value) and "absolute" in str(
        caught.value)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.onnx").write_bytes(default_model().read_bytes())
    check_program_models(DaemonConfig(program_models="default, models/mine.onnx"))
