"""The CC map: its text format, its checks (ConfigError naming cc_map, with the reason), the
values a knob's 0..127 stands for and back, merging a learnt knob, the knobs thread folding
a sweep into its latest value and learning the next knob, and the values sent back out.
"""

from __future__ import annotations

import queue
import threading

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import wait_until
from steered import SlowController

from antiphon.daemon.config.cc_map import (
    Knob,
    changed_knobs,
    feedback_messages,
    parse_cc_map,
    with_knob,
)
from antiphon.daemon.config.daemon_config import LIVE_OPTIONS, ConfigError, DaemonConfig
from antiphon.daemon.config.editing import write_option
from antiphon.daemon.config.loading import load_config, read_toml
from antiphon.daemon.config.toml_file import render_config_file
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.knobs import Knobs
from antiphon.daemon.midi.echo_guard import EchoGuard
from antiphon.daemon.midi.input_gate import InputGate, parse_channels
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.service.daemon import Daemon

EXAMPLE = "temperature=21:0.5..1.5, top_p = 22 : 0.5..1, scale=23:C major| D  dorian|chromatic"


def knob(text: str) -> Knob:
    return parse_cc_map(text)[0]


def test_the_format_reads_ranges_choices_and_usual_knobs():
    temperature, top_p, scale = parse_cc_map(EXAMPLE)
    assert (temperature.setting, temperature.cc, temperature.low, temperature.high) == \
        ("temperature", 21, 0.5, 1.5)
    assert (top_p.cc, top_p.entry) == (22, "top_p=22:0.5..1")
    assert scale.choices == ("C major", "D dorian", "chromatic")
    assert knob("top-p=5").entry == "top_p=5:0.5..1"  # its usual knob, dashes or not
    assert knob("thru=8").choices == (False, True)
    assert knob("max_polyphony=8:none|2|4").choices == (None, 2, 4)
    assert "cc_map" in LIVE_OPTIONS and "cc_feedback" in LIVE_OPTIONS


@pytest.mark.parametrize(("cc_map", "reason"), [
    ("temprature=21:0.5..1.5", "no setting 'temprature' (did you mean temperature?)"),
    ("device=21:cpu|cuda", "device is read once"),
    ("panic_cc=21:1..4", "panic_cc cannot be on a knob"),
    ("temperature=128:0.5..1", "CC 128 is out of 0..127"),
    ("temperature=-1:0.5..1", "the CC must be a number 0..127, got '-1'"),
    ("temperature=2_1:0.5..1", "the CC must be a number"),
    ("temperature=２１:0.5..1", "the CC must be a number"),
    ("temperature=21:0.5...2", "neither a range LOW..HIGH"),
    ("max_polyphony=28:none..8", "a range runs between numbers"),
    ("phrase_end=26:control|silence", "phrase_end control needs an end_cc"),
    ("temperature=123:0.5..1", "channel mode messages"),
    ("temperature=64:0.5..1", "CC 64 is the sustain pedal"),
    ("temperature=21:0..1", "'0' is no value for temperature (must be > 0"),
    ("top_p=22:0.5..2", "'2' is no value for top_p (must be > 0 and <= 1"),
    ("scale=23:C major|H minor", "'H minor' is no value for scale"),
    ("scale=23", "scale needs its choices"),
    ("thru=24:0..1", "thru takes choices"),
    ("grid_beats=25:0.1|1", "whole number of 1/24 beats"),
    ("max_polyphony=26:1.5..4", "expected a whole number"),
    ("temperature=21:1..1", "the same value"),
    ("temperature=21:1", "neither a range LOW..HIGH nor choices"),
    ("temperature:21", "is not SETTING=CC:RANGE"),
    ("temperature=21:0.5..1, top_p=21:0.5..1", "CC 21 is mapped twice"),
    ("temperature=21:0.5..1, temperature=22:0.5..1", "temperature is mapped twice"),
    (" ", "must not be empty"),
])
def test_a_bad_map_is_refused_naming_the_option_and_the_reason(cc_map, reason):
    with pytest.raises(ConfigError, match="--cc-map") as refused:
        DaemonConfig(cc_map=cc_map)
    assert refused.value.field == "cc_map" and reason in str(refused.value)


def test_a_knob_on_the_panic_or_end_controller_is_refused_from_any_layer(tmp_path):
    with pytest.raises(ConfigError, match="CC 119 cannot be both the panic_cc and the knob "
                                          "for temperature"):
        load_config(None, {}, {"cc_map": "temperature=119", "panic_cc": 119},
                    use_default_file=False)
    with pytest.raises(ConfigError, match="both the end_cc .*environment variable"):
        load_config(None, {"ANTIPHON_CC_MAP": "top_p=118"}, {"end_cc": 118},
                    use_default_file=False)
    file = tmp_path / "antiphon.toml"
    file.write_text(f'cc_map = "{EXAMPLE}"\ncc_feedback = true\n')
    loaded = load_config(file, {}, use_default_file=False)
    assert len(loaded.knob_map()) == 3 and loaded.cc_feedback


def test_a_range_maps_linearly_and_whole_numbers_round():
    temperature = knob("temperature=21:0.5..1.5")
    assert [temperature.value_at(v) for v in (0, 127)] == [0.5, 1.5]  # the ends exactly
    assert temperature.value_at(64) == pytest.approx(1.0039, abs=1e-4)
    backwards = knob("top_p=22:1..0.5")
    assert (backwards.value_at(0), backwards.value_at(127)) == (1.0, 0.5)
    polyphony = knob("max_polyphony=3:1..8")
    values = [polyphony.value_at(v) for v in range(128)]
    assert values[0] == 1 and values[-1] == 8 and set(values) == set(range(1, 9))
    assert all(isinstance(value, int) for value in values)
    grid = knob("grid_beats=4:0.25..1")
    assert all(abs(grid.value_at(v) * 24 - round(grid.value_at(v) * 24)) < 1e-9
               for v in range(128))


def test_choices_share_the_knob_evenly_in_order():
    scale = knob("scale=23:C major|D dorian|chromatic")
    picked = [scale.value_at(v) for v in range(128)]
    assert picked[:43] == ["C major"] * 43 and picked[43:86] == ["D dorian"] * 43
    assert picked[86:] == ["chromatic"] * 42
    assert knob("thru=5").value_at(63) is False and knob("thru=5").value_at(64) is True


@pytest.mark.parametrize("count", [2, 3, 5, 7, 100, 128])
def test_each_choice_is_sent_back_as_a_value_that_picks_it_again(count):
    choices = "|".join(str(number + 1) for number in range(count))
    channel = knob(f"max_polyphony=9:{choices}")
    positions = [channel.cc_value_of(number + 1) for number in range(count)]
    assert positions[0] == 0 and positions[-1] == 127
    assert [channel.value_at(position) for position in positions] == list(range(1, count + 1))


def test_a_value_is_sent_back_as_where_the_knob_would_be():
    temperature = knob("temperature=21:0.5..1.5")
    assert [temperature.cc_value_of(value) for value in (0.5, 1.0, 1.5)] == [0, 64, 127]
    assert temperature.cc_value_of(3.0) == 127  # set past the knob's end: the end
    assert all(temperature.cc_value_of(temperature.value_at(v)) == v for v in range(128))
    assert knob("scale=23:C major|D dorian").cc_value_of("d  Dorian") == 127
    assert knob("scale=23:C major|D dorian").cc_value_of("auto") is None  # out of reach


def test_a_learnt_knob_replaces_the_one_on_its_cc_and_the_one_for_its_setting():
    added, replaced = with_knob(None, knob("top_p=30:0.5..1"))
    assert (added, replaced) == ("top_p=30:0.5..1", [])
    merged, replaced = with_knob(EXAMPLE, knob("top_p=21:0.2..1"))
    assert merged == "scale=23:C major|D dorian|chromatic, top_p=21:0.2..1"
    assert replaced == ["temperature=21:0.5..1.5", "top_p=22:0.5..1"]


def test_the_map_is_written_into_a_config_file_keeping_its_other_lines(tmp_path):
    initial = tmp_path / "antiphon.toml"
    initial.write_text(render_config_file())  # `antiphon config init`'s file
    write_option(initial, "cc_map", "top_p=30:0.5..1")
    lines = initial.read_text().splitlines()
    example = next(i for i, line in enumerate(lines) if line.startswith("# cc_map = "))
    assert lines[example + 1] == 'cc_map = "top_p=30:0.5..1"'  # below its description
    assert initial.read_text().replace('cc_map = "top_p=30:0.5..1"\n', "") == \
        render_config_file()
    own = tmp_path / "own.toml"
    own.write_text('bpm = 90.0  # mine\ncc-map = "thru=3"\n# the end\n')
    write_option(own, "cc_map", "thru=4")
    assert own.read_text() == 'bpm = 90.0  # mine\ncc_map = "thru=4"\n# the end\n'
    assert read_toml(own) == {"bpm": 90.0, "cc_map": "thru=4"}
    tricky = tmp_path / "tricky.toml"
    tricky.write_text('cc_map = """\nthru=3"""\n')
    with pytest.raises(ConfigError, match='add this line yourself: cc_map = "thru=4"'):
        write_option(tricky, "cc_map", "thru=4")
    assert tricky.read_text() == 'cc_map = """\nthru=3"""\n'  # untouched
    write_option(tmp_path / "new" / "antiphon.toml", "cc_map", "thru=4")
    assert (tmp_path / "new" / "antiphon.toml").read_text() == 'cc_map = "thru=4"\n'


def test_feedback_goes_for_changed_settings_new_knobs_and_all_when_turned_on():
    # On the knobs' channel (3), not the answer's (5).
    old = DaemonConfig(cc_map=EXAMPLE, cc_feedback=True, knob_channel="3", channel=5)
    new = DaemonConfig(cc_map=EXAMPLE, cc_feedback=True, knob_channel="3", channel=5,
                       temperature=1.5)
    assert feedback_messages(new, changed_knobs(old, new)) == [(0xB2, 21, 127)]
    assert changed_knobs(old, DaemonConfig(cc_map=EXAMPLE, temperature=1.5)) == []  # off
    turned_on = changed_knobs(DaemonConfig(cc_map=EXAMPLE), old)
    assert [k.cc for k in turned_on] == [21, 22, 23]
    assert feedback_messages(old, turned_on) == [(0xB2, 21, 64), (0xB2, 22, 127)]  # auto: none
    remapped = DaemonConfig(cc_map=EXAMPLE + ", thru=24", cc_feedback=True, knob_channel="3",
                            channel=5)
    assert feedback_messages(remapped, changed_knobs(old, remapped)) == [(0xB2, 24, 0)]


def test_a_sweep_is_folded_into_its_latest_value_and_panics_all_count():
    controller = SlowController(DaemonConfig(cc_map=EXAMPLE, panic_cc=119))
    knobs = Knobs(controller)
    knobs.start()
    try:
        knobs([0xB0, 21, 0])
        assert wait_until(lambda: controller.requests, 2)  # the first move, being applied
        for value in range(1, 128):  # a sweep while it waits: never blocks the reader
            knobs([0xB0, 21, value])
        for value in (127, 0, 127):
            knobs([0xB0, 119, value])
        controller.release.set()
        assert wait_until(lambda: len(controller.requests) == 4, 2)
    finally:
        knobs.stop()
    assert controller.requests == [
        {"command": "set", "key": "temperature", "value": 0.5},  # the first move
        {"command": "set", "key": "temperature", "value": 1.5},  # the sweep's end only
        {"command": "panic"}, {"command": "panic"},  # each move past the middle counts
    ]


def test_learning_takes_the_next_knob_but_no_channel_mode_message():
    controller = SlowController(DaemonConfig())
    controller.release.set()
    knobs = Knobs(controller)
    knobs.start()
    learnt = queue.SimpleQueue()
    try:
        threading.Thread(target=lambda: learnt.put(knobs.learn(5.0))).start()
        assert wait_until(lambda: knobs._learning is not None, 2)
        assert wait_until(lambda: controller.daemon.every_cc[-1:] == [True], 2)  # on no map yet
        knobs([0xB0, 123, 0])  # all notes off: no knob
        knobs([0xB0, 17, 40])
        assert learnt.get(timeout=5) == 17
        assert controller.daemon.every_cc[-1] is False  # the learn's hold ends with it
        assert knobs.learn(0.05) is None  # nobody turns
    finally:
        knobs.stop()
    assert controller.requests == []  # the move that was learnt set nothing


def test_a_cc_the_daemon_sent_that_comes_back_is_no_knob_move():
    taken = []
    gate = InputGate(queue.SimpleQueue(), parse_channels("all"))
    gate.controls, gate.echo_guard = taken.append, EchoGuard()
    gate.take_controls({(0, 21)})
    gate.echo_guard.sent((0xB0, 21, 64), at=10.0)
    gate(10.001, [0xB0, 21, 64])  # our own, looped back
    gate(10.002, [0xB0, 21, 64])  # the same value again: a hand on the knob
    assert taken == [[0xB0, 21, 64]] and gate.stats.echoes == 1


def test_a_knob_sets_the_option_and_the_daemon_sends_the_value_back():
    keyboard, daemon_in = loopback_pair("keys")
    daemon_out, recorder_in = loopback_pair("synth")
    recorder = MessageRecorder()
    recorder_in.set_receiver(recorder)
    config = DaemonConfig(bpm=240, cc_map=EXAMPLE, cc_feedback=True, seed=7, device="cpu")
    daemon = Daemon(config, FakeSession(), daemon_in, daemon_out)
    controller = Controller(daemon, lambda: config, lambda _: None)
    knobs = daemon.gate.controls = controller.knobs = Knobs(controller)
    knobs.start()
    daemon.start()
    sent = lambda: [m for _, m in recorder.messages() if m[0] & 0xF0 == 0xB0]  # noqa: E731
    try:
        keyboard.send([0xB0, 22, 0])
        assert wait_until(lambda: daemon.config.top_p == 0.5, 5)
        assert wait_until(lambda: [0xB0, 22, 0] in sent(), 2)
        assert controller.handle({"command": "set", "key": "scale", "value": "D dorian"})["ok"]
        assert wait_until(lambda: [0xB0, 23, 64] in sent(), 2)  # the middle choice
        answer = controller.handle({"command": "knobs", "send": True})
        assert answer["ok"] and answer["sent"] == 3
        assert [k["value"] for k in answer["knobs"]] == [1.0, 0.5, "D dorian"]
        assert wait_until(lambda: [0xB0, 21, 64] in sent(), 2)
        answer = controller.handle({"command": "learn", "key": "tempo", "timeout": 1})
        assert not answer["ok"] and "no setting 'tempo'" in answer["error"]
        for timeout in (True, 10**400, "soon", [1]):  # no number of seconds: said so
            answer = controller.handle({"command": "learn", "key": "top_p",
                                        "timeout": timeout})
            assert not answer["ok"] and "a timeout is a number of seconds" in answer["error"]
    finally:
        knobs.stop()
        daemon.stop()
