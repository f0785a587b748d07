"""Config values at the edges: a file that starts with a byte-order mark, a list option
written as a TOML number or array, a number just past a limit (said as itself, not rounded
onto the limit), `set` naming the option it sets when another option's check refuses it,
and `set KEY none` giving the option's default.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.editing import write_option
from antiphon.daemon.config.loading import ConfigReader, load_config, read_toml
from antiphon.daemon.control.controller import Controller

BOM = b"\xef\xbb\xbf"


def test_a_config_file_with_a_byte_order_mark_is_read_and_edited(tmp_path):
    file = tmp_path / "antiphon.toml"
    file.write_bytes(BOM + b"# saved by Notepad\nbpm = 96\nscale = \"D dorian\"\n")
    assert read_toml(file) == {"bpm": 96.0, "scale": "D dorian"}
    assert load_config(file, {}).bpm == 96.0
    reader = ConfigReader(file, {}, {})
    assert reader().scale == "D dorian" and reader.sources["bpm"] == f"file {file}"
    write_option(file, "cc_map", "temperature=21:0.5..1.5")  # `antiphon learn` saving
    assert file.read_bytes().startswith(BOM + b"# saved by Notepad\nbpm = 96\n")
    assert read_toml(file)["cc_map"] == "temperature=21:0.5..1.5"


@pytest.mark.parametrize(("line", "option", "expected"), [
    ("listen_channels = 5", "listen_channels", "5"),
    ("listen_channels = [1, 2, 16]", "listen_channels", "1,2,16"),
    ("listen_channels = ['1-4', 16]", "listen_channels", "1-4, 16"),
    ("knob_channel = 3", "knob_channel", "3"),
    ("program_models = ['default', 'transformer']", "program_models", "default, transformer"),
    ("cc_map = ['temperature=21', 'scale=23:C major|D dorian']", "cc_map",
     "temperature=21, scale=23:C major|D dorian"),
])
def test_a_list_option_given_as_a_toml_number_or_array(tmp_path, line, option, expected):
    file = tmp_path / "antiphon.toml"
    file.write_text(line + "\n")
    assert getattr(load_config(file, {}), option) == expected


@pytest.mark.parametrize("line", ["listen_channels = true", "listen_channels = 1.5",
                                  "listen_channels = 17", "knob_channel = [true]"])
def test_a_list_option_of_another_kind_is_still_refused(tmp_path, line):
    file = tmp_path / "antiphon.toml"
    file.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, {})
    assert caught.value.field == line.split()[0]


@pytest.mark.parametrize(("option", "value"), [
    ("bpm", 19.9999999), ("bpm", 400.00000001), ("top_p", 1.0000000001),
    ("temperature", 10.000001), ("silence_beats", 16.0000001), ("max_hold_beats", 1024.0001),
    ("max_opening_rest_beats", -0.0000001), ("reconnect_timeout", 86400.00001),
])
def test_a_number_just_past_a_limit_is_said_as_it_was_given(option, value):
    with pytest.raises(ConfigError) as caught:
        DaemonConfig(**{option: value})
    assert caught.value.field == option
    assert caught.value.problem.endswith(f"got {value!r}"), caught.value.problem


def test_a_number_that_is_short_is_still_said_short():
    with pytest.raises(ConfigError, match=r"got 500$"):
        DaemonConfig(bpm=500.0)


def controller(config: DaemonConfig) -> Controller:
    applied = []

    def apply_config(new):
        applied.append(new)
        daemon.config = new
        return [], []

    daemon = SimpleNamespace(config=config, apply_config=apply_config,
                             followed_tempo=lambda: None, propose_tempo=lambda bpm: None)
    return Controller(daemon, lambda: config, load_model=None)


@pytest.mark.parametrize(("config", "key", "value"), [
    (DaemonConfig(lowest_pitch=60), "highest_pitch", "10"),
    (DaemonConfig(lowest_pitch=60, scale="C major"), "highest_pitch", "10"),
    (DaemonConfig(lowest_pitch=61, scale="C major"), "highest_pitch", "61"),
    (DaemonConfig(highest_pitch=90), "lowest_pitch", "100"),
    (DaemonConfig(highest_pitch=90, scale="D dorian"), "lowest_pitch", "100"),
    (DaemonConfig(), "min_answer_beats", "20"),
    (DaemonConfig(min_answer_beats=8), "max_answer_beats", "4"),
    (DaemonConfig(end_cc=20, phrase_end="control"), "end_cc", "none"),
    (DaemonConfig(lowest_pitch=61, highest_pitch=61), "scale", "C major"),
    (DaemonConfig(cc_map="temperature=21"), "panic_cc", "21"),
])
def test_set_names_the_option_it_sets_when_refused(config, key, value):
    control = controller(config)
    answer = control.handle({"command": "set", "key": key, "value": value})
    assert not answer["ok"], answer
    flag = "--" + key.replace("_", "-")
    assert answer["error"].startswith(f"{flag} ("), answer["error"]
    assert control.daemon.config is config  # nothing changed


@pytest.mark.parametrize(("key", "word", "expected"), [
    ("scale", "none", "auto"), ("scale", "None", "auto"), ("scale", "default", "auto"),
    ("max_polyphony", "none", None), ("cc_map", "null", None), ("bpm", "default", 120.0),
    ("listen_channels", "default", "1-9,11-16"), ("thru", "default", False),
])
def test_set_none_or_default_gives_the_options_default(key, word, expected):
    config = DaemonConfig(scale="D dorian", max_polyphony=2, cc_map="temperature=21",
                          bpm=90, listen_channels="all", thru=True)
    control = controller(config)
    answer = control.handle({"command": "set", "key": key, "value": word})
    assert answer == {"ok": True, "key": key, "value": expected}


@pytest.mark.parametrize(("key", "value"), [
    ("temperature", "none"), ("listen_channels", "None"), ("thru", "null"), ("channel", None),
    ("phrase_end", ""), ("log_level", "none")])
def test_set_none_on_an_option_that_needs_a_value_is_refused(key, value):
    """Said as what it is (the option always has a value; 'default' gives its default),
    not as a value of the wrong type."""
    answer = controller(DaemonConfig()).handle({"command": "set", "key": key, "value": value})
    assert not answer["ok"], answer
    assert answer["error"].startswith("--" + key.replace("_", "-") + " (")
    assert "always has a value" in answer["error"] and "'default'" in answer["error"]


def test_a_cross_check_and_a_learn_timeout_also_say_the_number_as_given():
    with pytest.raises(ConfigError, match=r"\(4\), got 3\.9999999$"):
        DaemonConfig(min_answer_beats=4, max_answer_beats=3.9999999)
    control = controller(DaemonConfig())
    control.knobs = object()  # the timeout is refused before any knob is waited for
    answer = control.handle({"command": "learn", "key": "top_p", "timeout": 600.0000001})
    assert not answer["ok"] and answer["error"].endswith("got 600.0000001"), answer


@pytest.mark.parametrize(("value", "expected"), [(5, "5"), ([1, 2], "1,2")])
def test_set_takes_a_channel_list_as_a_number_or_a_list(value, expected):
    """As OSC sends `/antiphon/listen_channels 5`, or a JSON client a list."""
    answer = controller(DaemonConfig()).handle(
        {"command": "set", "key": "listen_channels", "value": value})
    assert answer == {"ok": True, "key": "listen_channels", "value": expected}


def test_set_a_value_of_no_kind_is_refused_in_a_line():
    answer = controller(DaemonConfig()).handle(
        {"command": "set", "key": "temperature", "value": [1]})
    assert not answer["ok"] and "expected a number" in answer["error"], answer


@pytest.mark.parametrize(("option", "text"), [
    ("bpm", "19.99999999999999999999"), ("bpm", "400.00000000000000000001"),
    ("bpm", "1e-400"), ("top_p", "1.00000000000000000001"), ("temperature", "1e-400"),
    ("max_opening_rest_beats", "-0.00000000000000000000001"),
    ("silence_beats", "16.000000000000000000000001"), ("key_bias", "1e400"),
])
def test_a_number_whose_float_hides_a_limit_is_refused_as_written(option, text, tmp_path):
    """19.99999999999999999999 is 20.0 once a float: still below 20, and said as typed, from
    `set`, the environment and a TOML file alike."""
    answer = controller(DaemonConfig()).handle({"command": "set", "key": option, "value": text})
    assert not answer["ok"] and f"got {text}" in answer["error"], answer
    assert answer["error"].startswith("--" + option.replace("_", "-"))
    with pytest.raises(ConfigError, match=f"got {text}") as caught:
        load_config(None, {f"ANTIPHON_{option.upper()}": text}, use_default_file=False)
    assert caught.value.field == option
    file = tmp_path / "antiphon.toml"
    file.write_text(f"{option} = {text}\n")
    with pytest.raises(ConfigError, match=f"got {text}") as caught:
        load_config(file, {})
    assert caught.value.field == option


def test_a_long_decimal_inside_the_limits_is_taken():
    answer = controller(DaemonConfig()).handle(
        {"command": "set", "key": "bpm", "value": "20.00000000000000000000001"})
    assert answer == {"ok": True, "key": "bpm", "value": 20.0}


@pytest.mark.parametrize(("encoding", "name"), [
    ("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_config_file_in_another_unicode_encoding_is_refused_by_name(tmp_path, encoding,
                                                                      name):
    file = tmp_path / "antiphon.toml"
    text = "bpm = 96\n"
    raw = text.encode(encoding)
    if not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raw = "\ufeff".encode(encoding) + raw  # the big-endian codecs write no mark
    file.write_bytes(raw)
    with pytest.raises(ConfigError, match=f"{name} text .*save it as UTF-8"):
        load_config(file, {})
    reader = ConfigReader(file, {}, {})
    with pytest.raises(ConfigError, match=name):
        reader()
    with pytest.raises(ConfigError, match="not UTF-8"):  # learn saving into it
        write_option(file, "cc_map", "temperature=21")
    assert file.read_bytes() == raw


def test_a_config_file_with_a_bom_and_crlf_line_ends_is_read_and_edited_keeping_both(tmp_path):
    file = tmp_path / "antiphon.toml"
    file.write_bytes(BOM + b"# from Windows\r\nbpm = 96\r\n# cc_map = \"thru=4\"\r\n"
                     b"thru = true\r\n")
    assert load_config(file, {}).bpm == 96.0
    write_option(file, "cc_map", "temperature=21:0.5..1.5")
    assert file.read_bytes() == (BOM + b"# from Windows\r\nbpm = 96\r\n# cc_map = \"thru=4\"\r\n"
                                 b"cc_map = \"temperature=21:0.5..1.5\"\r\nthru = true\r\n")
    write_option(file, "bpm", 100.0)  # an active line replaced, its line end kept
    assert b"\r\nbpm = 100.0\r\n" in file.read_bytes() and b"\n\n" not in file.read_bytes()
    assert read_toml(file) == {"bpm": 100.0, "thru": True,
                               "cc_map": "temperature=21:0.5..1.5"}


@pytest.mark.parametrize("line", [
    "listen_channels = 5.0", "listen_channels = true", "listen_channels = [[1]]",
    "listen_channels = [1, true]", "knob_channel = {a = 1}", "program_models = 5",
    "program_models = [['default']]", "cc_map = [['temperature=21']]", "cc_map = true"])
def test_a_list_option_of_no_kind_says_what_a_list_option_takes(tmp_path, line):
    file = tmp_path / "antiphon.toml"
    file.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, {})
    assert caught.value.field == line.split()[0]
    assert "expected text" not in str(caught.value)
    assert "or an array of them" in str(caught.value)


@pytest.mark.parametrize(("typed", "meant"), [("temprature", "temperature"),
                                              ("devcie", "device"), ("modle", "model")])
def test_set_of_a_misspelt_option_suggests_the_near_one_live_or_not(typed, meant):
    answer = controller(DaemonConfig()).handle({"command": "set", "key": typed, "value": "1"})
    assert not answer["ok"] and f"did you mean {meant}?" in answer["error"], answer


@pytest.mark.parametrize(("flag", "text"), [
    ("--bpm", "19.99999999999999999999"), ("--top-p", "1.00000000000000000001"),
    ("--silence-beats", "16.000000000000000000001"), ("--temperature", "1e-400")])
def test_run_refuses_a_flags_number_whose_float_hides_a_limit_as_written(flag, text, tmp_path):
    import os

    from typer.testing import CliRunner

    from antiphon.daemon.cli.app import app

    result = CliRunner().invoke(app, ["run", flag, text, "--control-socket",
                                      str(tmp_path / "c.sock")], env={**os.environ})
    said = " ".join(result.output.split())
    assert result.exit_code != 0 and f"got {text}" in said and flag in said, said
    assert "Traceback" not in result.output


def test_a_flags_number_is_a_plain_float_once_read():
    from antiphon.daemon.cli.options import written_number

    config = load_config(None, {}, {"bpm": written_number(" 90.5 ")}, use_default_file=False)
    assert config.bpm == 90.5 and type(config.bpm) is float


@pytest.mark.parametrize("timeout", ["600.00000000000000000001", "1e-400", "nan", "-inf",
                                     float("nan"), "1e400"])
def test_a_learn_timeout_past_its_limit_is_refused_as_written(timeout):
    control = controller(DaemonConfig())
    control.knobs = object()  # refused before any knob is waited for
    answer = control.handle({"command": "learn", "key": "top_p", "timeout": timeout})
    assert not answer["ok"] and "at most 600 s" in answer["error"], answer
    if isinstance(timeout, str):
        assert answer["error"].endswith(f"got {timeout}"), answer
