"""Files where a user looks for them: the config file, the user's models and the corpus
cache under the XDG folders (pointed at tmp_path here, so a developer's own files never
take part), and `--model NAME` finding the user's models before the shipped ones."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from antiphon import exported_models
from antiphon.daemon.cli.app import app
from antiphon.daemon.config import paths
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.loading import load_config, load_config_with_sources
from antiphon.daemon.config.models import all_models, find_model
from antiphon.daemon.service.startup import resolve_model_path


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """XDG folders of the test's own, and no ANTIPHON_* variable from the caller's shell."""
    for name in ("CONFIG", "DATA", "CACHE", "RUNTIME"):
        monkeypatch.setenv(f"XDG_{name}_HOME" if name != "RUNTIME" else "XDG_RUNTIME_DIR",
                           str(tmp_path / name.lower()))
    monkeypatch.delenv("ANTIPHON_CACHE", raising=False)
    return tmp_path


def test_the_folders_follow_the_xdg_variables(xdg):
    assert paths.config_file() == xdg / "config" / "antiphon" / "antiphon.toml"
    assert paths.user_models_dir() == xdg / "data" / "antiphon" / "models"
    assert paths.cache_dir() == xdg / "cache" / "antiphon"
    assert paths.control_socket() == xdg / "runtime" / "antiphon" / "control.sock"
    assert paths.existing_config_file() is None


def test_the_cache_variable_wins_and_the_corpus_import_agrees(xdg, monkeypatch):
    from antiphon.training.data.music21_import import default_cache_dir

    assert default_cache_dir() == paths.cache_dir() == xdg / "cache" / "antiphon"
    monkeypatch.setenv("ANTIPHON_CACHE", str(xdg / "elsewhere"))
    assert default_cache_dir() == paths.cache_dir() == xdg / "elsewhere"


# -- the config file ------------------------------------------------------------------------
def write_default_config(text: str):
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_the_platform_config_file_is_read_when_no_file_is_named(xdg):
    path = write_default_config("bpm = 96\nchannel = 3\n")
    assert paths.existing_config_file() == path
    config = load_config()
    assert (config.bpm, config.channel) == (96.0, 3)
    named = xdg / "other.toml"
    named.write_text("bpm = 70\n")
    assert load_config(named).bpm == 70.0 and load_config(named).channel == 1  # not merged
    assert load_config(use_default_file=False) == DaemonConfig()


def test_without_a_config_file_the_defaults_hold(xdg):
    assert load_config() == DaemonConfig()


@pytest.mark.parametrize(("text", "problem"), [
    ("bpm = \n", "not valid TOML"),
    ("tempo = 100\n", "unknown option 'tempo'"),
])
def test_a_bad_platform_config_file_is_an_error_naming_its_path(xdg, text, problem):
    path = write_default_config(text)
    with pytest.raises(ConfigError, match=problem) as caught:
        load_config()
    assert str(path) in str(caught.value)


def test_a_folder_where_the_config_file_belongs_is_an_error_too(xdg):
    paths.config_file().mkdir(parents=True)
    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_config()
    assert str(paths.config_file()) in str(caught.value)


def test_a_bad_value_in_the_platform_file_names_the_file(xdg):
    path = write_default_config("channel = 17\n")
    with pytest.raises(ConfigError, match=f"--channel.*from TOML file {path}"):
        load_config()


@pytest.mark.parametrize("command", [["run"], ["demo"], ["panic"]])
def test_the_commands_read_the_platform_config_file(xdg, command):
    # A bad file proves it is read: each command stops on it before touching MIDI.
    path = write_default_config("bpm = 'fast'\n")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "expected a number" in result.output and str(path) in result.output


def test_sources_say_where_each_value_came_from(xdg):
    path = write_default_config("bpm = 96\ntemperature = 0.5\nscale = 'D dorian'\n")
    environ = {"ANTIPHON_TEMPERATURE": "0.8", "ANTIPHON_IN": "Keystation", "HOME": "/x"}
    config, sources = load_config_with_sources(None, environ, {"scale": "C major",
                                                               "channel": None})
    assert (config.bpm, config.temperature, config.in_port, config.scale) == (
        96.0, 0.8, "Keystation", "C major")
    assert sources["bpm"] == f"file {path}"
    assert sources["temperature"] == "environment ANTIPHON_TEMPERATURE"
    assert sources["in_port"] == "environment ANTIPHON_IN"
    assert sources["scale"] == "command line"
    assert sources["channel"] == "default"  # None on the command line: not given
    assert set(sources) == set(DaemonConfig.__dataclass_fields__)


# -- the user's models ----------------------------------------------------------------------
def fake_model(name: str):
    folder = paths.user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    path.write_bytes(b"not really a model")  # finding a model never opens it
    return path


def test_a_user_model_is_found_by_name(xdg):
    mine = fake_model("mine")
    assert find_model("mine") == mine == resolve_model_path("mine")
    assert resolve_model_path(None) == exported_models.default_model_path()
    assert find_model(str(mine)) == mine  # a path still works as a path


def test_a_user_model_hides_a_shipped_one_of_the_same_name(xdg):
    shipped = exported_models.available_models()[0]
    mine = fake_model(shipped)
    assert find_model(shipped) == mine
    listed = [(model.name, model.shipped) for model in all_models()]
    assert listed[0] == (shipped, False) and (shipped, True) in listed


def test_an_unknown_model_lists_the_users_models_and_the_shipped_ones(xdg):
    fake_model("mine")
    with pytest.raises(FileNotFoundError) as caught:
        resolve_model_path("nope")
    message = str(caught.value)
    assert "'nope'" in message and "mine" in message and str(paths.user_models_dir()) in message
    assert all(name in message for name in exported_models.available_models())


def test_models_lists_the_users_models_with_where_they_live(xdg):
    fake_model("mine")
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "mine" in result.output and "yours" in result.output
    assert "unreadable" in result.output  # the fake file: shown, not fatal
    assert "shipped" in result.output
    assert "models" in result.output.split("your models live in")[1]


def tiny_checkpoint(run_dir):
    """A token model trained for two steps on eight short tunes: enough to export."""
    from antiphon.engine.codec import EventCodec
    from antiphon.engine.events import NoteEvent
    from antiphon.training.data.tokens import encode_pieces
    from antiphon.training.fit.loop import TrainConfig, train

    def tune(root: int) -> list[NoteEvent]:
        events = []
        for index, step in enumerate((0, 2, 4, 5, 7, 5, 4, 2) * 3):
            events += [NoteEvent(12 * index, root + step, 80),
                       NoteEvent(12 * index + 12, root + step, 0)]
        return events

    codec = EventCodec()
    splits = {"train": encode_pieces([tune(60 + i % 5) for i in range(8)], codec),
              "valid": encode_pieces([tune(62)], codec)}
    return train(run_dir, codec, splits, {"hidden": 16, "embedding": 8, "layers": 1},
                 TrainConfig(epochs=1, steps_per_epoch=2, batch_size=4, window=32,
                             warmup_steps=1, lr=1e-2))


def test_export_with_a_name_writes_into_the_users_models(xdg, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(xdg)
    checkpoint = tiny_checkpoint(xdg / "run")
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(checkpoint), "--name", "mine"])
    assert result.exit_code == 0, result.output
    exported = paths.user_models_dir() / "mine.onnx"
    assert exported.is_file() and not (xdg / "model.onnx").exists()
    assert resolve_model_path("mine") == exported
    from antiphon.engine.session import Engine

    assert Engine.load(resolve_model_path("mine")).card.name == "mine"
    elsewhere = xdg / "out" / "chosen.onnx"  # --out still decides where
    result = runner.invoke(app, ["export", str(checkpoint), "--name", "mine2",
                                 "--out", str(elsewhere)])
    assert result.exit_code == 0, result.output
    assert elsewhere.is_file() and not (paths.user_models_dir() / "mine2.onnx").exists()
    result = runner.invoke(app, ["export", str(checkpoint), "--name", "../escape"])
    assert result.exit_code == 2 and "plain file name" in result.output
