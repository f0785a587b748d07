import dataclasses
import sys

import pytest
import typer.main

from antiphon.daemon.cli.app import app
from antiphon.daemon.config.config_fields import ConfigFields
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig, cli_flag, field_names
from antiphon.daemon.config.loading import load_config


def test_defaults():
    config = load_config()
    assert config == DaemonConfig()
    assert config.bpm == 120.0
    assert config.silence_beats == 1.0
    assert config.silence_seconds == pytest.approx(0.5)  # one beat at the default tempo
    assert config.in_port is None and config.out_port is None


def test_every_field_has_a_comment():
    source = open(sys.modules[ConfigFields.__module__].__file__).read()
    lines = source[source.index("class ConfigFields"):].splitlines()
    for field in dataclasses.fields(DaemonConfig):
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(field.name + ":"))
        assert lines[index - 1].strip().startswith("#"), f"{field.name} has no comment"


def test_run_options_map_one_to_one_onto_the_fields():
    command = typer.main.get_command(app).commands["run"]
    options = {param.name: param for param in command.params}
    assert set(options) - {"config"} == set(field_names())
    for name in field_names():
        assert cli_flag(name) in options[name].opts, name


def test_toml_file(tmp_path):
    path = tmp_path / "antiphon.toml"
    path.write_text('bpm = 96\nin_port = "Keystation"\nmax-answer-beats = 12\nseed = 7\n')
    config = load_config(path)
    assert (config.bpm, config.in_port, config.max_answer_beats, config.seed) == (
        96.0, "Keystation", 12.0, 7)


def test_environment():
    config = load_config(environ={
        "ANTIPHON_BPM": "90.5", "ANTIPHON_CHANNEL": "10", "ANTIPHON_OUT_PORT": "Synth",
        "ANTIPHON_SEED": "", "ANTIPHON_CACHE": "/somewhere",  # another tool's variable
        "HOME": "/root",
    })
    assert (config.bpm, config.channel, config.out_port, config.seed) == (90.5, 10, "Synth", None)


def test_in_and_out_variables_name_the_ports_as_the_flags_do():
    config = load_config(environ={"ANTIPHON_IN": "Keystation", "ANTIPHON_OUT": "Synth"})
    assert (config.in_port, config.out_port) == ("Keystation", "Synth")


def test_an_unknown_variable_is_a_warning_naming_the_closest_option(caplog):
    caplog.set_level("WARNING")
    config = load_config(environ={"ANTIPHON_TEMPRATURE": "0.5", "ANTIPHON_CACHE": "/x",
                                  "ANTIPHON_BPM": "90"})
    assert config.temperature == 1.0 and config.bpm == 90.0  # the typo changes nothing
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings  # the corpus cache variable is not a typo
    assert "ANTIPHON_TEMPRATURE" in warnings[0] and "ANTIPHON_TEMPERATURE" in warnings[0]


def test_toml_reads_where_the_standard_library_has_no_tomllib(tmp_path, monkeypatch):
    import tomllib

    from antiphon.daemon.config import loading as config_module

    monkeypatch.setattr(config_module.sys, "version_info", (3, 10, 13))
    monkeypatch.setitem(sys.modules, "tomli", tomllib)  # what the tomli package provides
    monkeypatch.delitem(sys.modules, "tomllib")
    monkeypatch.setattr("builtins.__import__", _refusing("tomllib"))
    path = tmp_path / "antiphon.toml"
    path.write_text("bpm = 77\n")
    assert load_config(path).bpm == 77.0


def _refusing(name: str):
    """An __import__ that fails for `name`, as on a Python without it."""
    import builtins

    real = builtins.__import__

    def importer(module, *args, **kwargs):
        if module == name:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(module, *args, **kwargs)

    return importer


def test_precedence_file_then_environment_then_command_line(tmp_path):
    path = tmp_path / "antiphon.toml"
    path.write_text("bpm = 80\ntemperature = 0.5\nchannel = 2\n")
    config = load_config(path, {"ANTIPHON_BPM": "100", "ANTIPHON_CHANNEL": "3"},
                         {"bpm": 140.0, "temperature": None})
    assert (config.bpm, config.channel, config.temperature) == (140.0, 3, 0.5)


@pytest.mark.parametrize(("overrides", "names"), [
    ({"bpm": 0.0}, ["--bpm", "ANTIPHON_BPM", "command line"]),
    ({"temperature": -1.0}, ["--temperature"]),
    ({"top_p": 0.0}, ["--top-p", "> 0"]),
    ({"top_p": 1.2}, ["--top-p", "<= 1"]),
    ({"channel": 17}, ["--channel", "1", "16"]),
    ({"backend": "oss"}, ["--backend", "jack"]),
    ({"device": "tpu"}, ["--device"]),
    ({"grid_beats": 0.3}, ["--grid-beats", "1/24"]),
    ({"min_answer_beats": 8.0, "max_answer_beats": 4.0}, ["--max-answer-beats"]),
    ({"in_port": "  "}, ["--in"]),
    ({"silence_beats": float("nan")}, ["--silence-beats"]),
    ({"seed": 2**63}, ["--seed", "<= 9223372036854775807, got 9223372036854775808"]),
    ({"channel": 10**400}, ["--channel", "got a number of 401 digits"]),
    ({"bpm": 10**400}, ["--bpm", "a number of 401 digits"]),
    ({"web_port": 0}, ["--web-port", "65535"]),
    ({"web_port": 70000}, ["--web-port"]),
    ({"record_keep_mb": 0.0}, ["--record-keep-mb", "> 0"]),
    ({"record_keep_days": -1.0}, ["--record-keep-days"]),
    ({"record_folder": " "}, ["--record-folder"]),
    ({"record_folder": "/tmp/a\x00b"}, ["--record-folder", "NUL"]),
    ({"timing_trace": "trace\x00.jsonl"}, ["--timing-trace", "NUL"]),
])
def test_bad_values_name_the_option(overrides, names):
    with pytest.raises(ConfigError) as caught:
        load_config(overrides=overrides)
    for name in names:
        assert name in str(caught.value)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="ANTIPHON_BPM.*'fast'"):
        load_config(environ={"ANTIPHON_BPM": "fast"})
    with pytest.raises(ConfigError, match="from environment variable ANTIPHON_CHANNEL"):
        load_config(environ={"ANTIPHON_CHANNEL": "0"})
    for digits in ("١٢٠", "1_20"):  # int() and float() take them; no one means them
        with pytest.raises(ConfigError, match="ANTIPHON_BPM.*expected a number"):
            load_config(environ={"ANTIPHON_BPM": digits})
    with pytest.raises(ConfigError, match="ANTIPHON_CHANNEL.*a number of 401 digits"):
        load_config(environ={"ANTIPHON_CHANNEL": "1" + "0" * 400})


def test_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("bpm = 'fast'\n")
    with pytest.raises(ConfigError, match="--bpm.*expected a number.*bad.toml"):
        load_config(path)
    path.write_text("tempo = 100\n")
    with pytest.raises(ConfigError, match="unknown option 'tempo'"):
        load_config(path)
    path.write_text("bpm = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    path.write_text("channel = true\n")
    with pytest.raises(ConfigError, match="--channel.*whole number"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_pitch_rules_come_from_the_options():
    config = load_config(None, {"ANTIPHON_SCALE": "D dorian"},
                         {"lowest_pitch": 48, "highest_pitch": 84, "max_polyphony": 3})
    rules = config.pitch_rules()
    assert (rules.lowest, rules.highest, rules.max_polyphony) == (48, 84, 3)
    assert rules.pitch_classes == {2, 4, 5, 7, 9, 11, 0}
    assert DaemonConfig().pitch_rules().allowed_pitches().all()  # by default: anything


@pytest.mark.parametrize(("overrides", "flag"), [
    ({"scale": "H major"}, "--scale"),
    ({"lowest_pitch": 80, "highest_pitch": 70}, "--highest-pitch"),
    ({"max_polyphony": 0}, "--max-polyphony"),
    ({"highest_pitch": 200}, "--highest-pitch"),
])
def test_bad_pitch_rules_name_the_option(overrides, flag):
    with pytest.raises(ConfigError, match=flag):
        load_config(None, {}, overrides)
