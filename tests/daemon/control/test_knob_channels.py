"""Knobs and the MIDI controllers around them: a controller whose meaning MIDI fixes (volume,
pan, bank select, the pedals, ...) is no knob unless the map insists (`CC!`), in the map from
any layer, at `set cc_map` and at a learn; knobs listen on their channel (`knob_channel`),
not on every channel listened to; a learnt knob goes back on a map that a flag or the
environment gives anew at each reload.
"""

from __future__ import annotations

import queue
import threading

import pytest
from daemon_helpers import wait_until
from steered import SlowController, knob

from antiphon.daemon.config.cc_map import FIXED_MEANING_CCS, feedback_messages, parse_cc_map
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.loading import load_config
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.knobs import KnobError, Knobs

FIXED = sorted(FIXED_MEANING_CCS)


@pytest.mark.parametrize("cc", FIXED)
def test_a_knob_on_a_controller_of_fixed_meaning_is_refused_unless_insisted(cc, tmp_path):
    entry = f"top_p={cc}:0.5..1"
    with pytest.raises(ConfigError, match=rf"CC {cc} is .*write CC! \({cc}!\)"):
        DaemonConfig(cc_map=entry)
    with pytest.raises(ConfigError, match=rf"CC {cc} is "):
        load_config(None, {"ANTIPHON_CC_MAP": entry}, {})
    (tmp_path / "a.toml").write_text(f'cc_map = "{entry}"\n')
    with pytest.raises(ConfigError, match=rf"CC {cc} is "):
        load_config(tmp_path / "a.toml", {})
    insisted = DaemonConfig(cc_map=f"top_p={cc}!:0.5..1").knob_map()[0]
    assert (insisted.cc, insisted.insisted, insisted.entry) == (cc, True, f"top_p={cc}!:0.5..1")


@pytest.mark.parametrize("cc", [64, 120, 123, 127])
def test_the_pedal_and_channel_mode_messages_are_refused_even_insisted(cc):
    with pytest.raises(ConfigError, match=rf"CC {cc}"):
        DaemonConfig(cc_map=f"top_p={cc}!:0.5..1")


def test_set_cc_map_refuses_volume_so_feedback_never_sends_it():
    from types import SimpleNamespace

    config = DaemonConfig(cc_feedback=True)
    daemon = SimpleNamespace(config=config)
    answer = Controller(daemon, lambda: config, None).handle(
        {"command": "set", "key": "cc_map", "value": "top_p=7:0..1"})
    assert not answer["ok"] and "CC 7 is channel volume" in answer["error"]
    free = "top_p=21:0.5..1, thru=7!"  # asked for on purpose: taken, but never fed back
    assert feedback_messages(DaemonConfig(cc_map=free), parse_cc_map(free)) == [
        (0xB0, 21, 127)]


@pytest.mark.parametrize("cc", FIXED)
def test_feedback_never_goes_out_on_a_controller_of_fixed_meaning(cc, caplog):
    """The output goes to the synth: CC 7 0 there is its volume at 0, whatever knob sent it."""
    from antiphon.daemon.config.loading import ConfigReader

    config = DaemonConfig(cc_map=f"top_p={cc}!:0.5..1, temperature=21", cc_feedback=True)
    assert feedback_messages(config, config.knob_map()) == [(0xB0, 21, 64)]
    with caplog.at_level("WARNING"):
        ConfigReader(None, {}, {"cc_map": config.cc_map, "cc_feedback": True})()
    assert f"CC {cc} is {FIXED_MEANING_CCS[cc]}: cc_feedback sends nothing" in caplog.text


@pytest.mark.parametrize(("options", "heard_on", "status"), [
    ({}, {}, 0xB0),  # the answer's channel (5) is not where the knob listens
    ({"knob_channel": "3"}, {}, 0xB2),
    ({"knob_channel": "2,4"}, {}, 0xB1),  # the lowest knob channel, before a move
    ({"knob_channel": "2,4"}, {21: 4}, 0xB3),  # where the knob was heard
    ({"knob_channel": "2,4"}, {21: 7}, 0xB1),  # heard where knobs no longer listen
    ({"knob_channel": "all", "listen_channels": "6-8"}, {21: 8}, 0xB7),
    ({"listen_channels": "6-8"}, {}, 0xB5),
])
def test_feedback_goes_out_on_the_channel_the_knob_is_heard_on(options, heard_on, status):
    config = DaemonConfig(cc_map="temperature=21", cc_feedback=True, channel=5, **options)
    assert feedback_messages(config, config.knob_map(), heard_on) == [(status, 21, 64)]


def test_knobs_remember_the_channel_each_knob_moved_on_and_feed_back_there():
    controller = SlowController(DaemonConfig(cc_map="temperature=21", knob_channel="2,4",
                                             cc_feedback=True, channel=9))
    controller.release.set()
    knobs = Knobs(controller)
    knobs.start()
    try:
        knobs([0xB3, 21, 127])  # channel 4
        assert wait_until(lambda: controller.daemon.config.temperature == 1.5, 5)
    finally:
        knobs.stop()
    assert knobs.heard_on == {21: 4}
    config = controller.daemon.config
    assert feedback_messages(config, config.knob_map(), knobs.heard_on) == [(0xB3, 21, 127)]


def test_a_change_of_knob_channel_sends_every_knob_again():
    from antiphon.daemon.config.cc_map import changed_knobs

    old = DaemonConfig(cc_map="temperature=21, top_p=22", cc_feedback=True)
    new = DaemonConfig(cc_map="temperature=21, top_p=22", cc_feedback=True, knob_channel="2")
    assert [knob.cc for knob in changed_knobs(old, new)] == [21, 22]
    assert changed_knobs(old, DaemonConfig(cc_map="temperature=21, top_p=22",
                                           cc_feedback=True, channel=3)) == []


def learning(config: DaemonConfig, moves, fixed_too: bool = False, timeout: float = 5.0):
    """What a learn under `config` makes of `moves` (the CC messages sent during it): the CC
    learnt, or the KnobError's text."""
    controller = SlowController(config)
    controller.release.set()
    knobs = Knobs(controller)
    knobs.start()
    learnt = queue.SimpleQueue()

    def learn():
        try:
            learnt.put(knobs.learn(timeout, fixed_too=fixed_too))
        except KnobError as err:
            learnt.put(str(err))

    try:
        threading.Thread(target=learn).start()
        assert wait_until(lambda: knobs._learning is not None, 2)
        assert controller.daemon.every_cc == [True]  # the gate hands over every controller
        for move in moves:
            knobs(move)
        return learnt.get(timeout=timeout + 5)
    finally:
        knobs.stop()
        assert controller.daemon.every_cc[-1] is False  # and only while it learns


def test_learn_passes_over_a_volume_fader_unless_asked():
    assert learning(DaemonConfig(), [[0xB0, 7, 90], [0xB0, 21, 3]]) == 21
    assert learning(DaemonConfig(), [[0xB0, 7, 90]], fixed_too=True) == 7
    said = learning(DaemonConfig(), [[0xB0, 11, 90]], timeout=0.5)
    assert "CC 11 (expression" in said and "--fixed-cc" in said


def test_learn_hears_only_the_knob_channel_and_says_so():
    assert learning(DaemonConfig(), [[0xB3, 21, 3], [0xB0, 22, 3]]) == 22
    said = learning(DaemonConfig(), [[0xB3, 21, 3]], timeout=0.5)
    assert "CC 21 moved on channel 4" in said and "listen on channel 1" in said
    assert learning(DaemonConfig(knob_channel="all"), [[0xB3, 21, 3]]) == 21


@pytest.mark.parametrize(("options", "heard"), [
    ({}, [1]), ({"listen_channels": "4-5"}, [4]), ({"knob_channel": "2"}, [2]),
    ({"knob_channel": "2,4"}, [2, 4]), ({"knob_channel": "all"}, [1, 2, 4, 16]),
    ({"knob_channel": "ALL", "listen_channels": "2-4"}, [2, 4]),
])
def test_knobs_move_only_on_their_channel(options, heard):
    controller = SlowController(DaemonConfig(cc_map="temperature=21:0.5..1.5", **options))
    controller.release.set()
    knobs = Knobs(controller)
    knobs.start()
    try:
        for channel in (1, 2, 4, 16):
            knobs([0xB0 | (channel - 1), 21, channel])  # each channel its own value
            if channel in heard:
                taken = heard.index(channel) + 1
                assert wait_until(lambda taken=taken: len(controller.requests) == taken, 5)
        assert knobs.other_channels == 4 - len(heard)
    finally:
        knobs.stop()
    moved = [request["value"] for request in controller.requests]
    assert moved == [round(0.5 + channel / 127, 4) for channel in heard]


@pytest.mark.parametrize("option", [{"knob_channel": "10"}, {"knob_channel": "0"},
                                    {"knob_channel": "x"}, {"knob_channel": "",
                                                            "listen_channels": "1"}])
def test_a_knob_channel_that_is_never_heard_is_refused(option):
    with pytest.raises(ConfigError) as caught:
        DaemonConfig(**option)
    assert caught.value.field == "knob_channel"


@pytest.mark.parametrize(("map_from", "kept"), [
    ("command line", True), ("environment ANTIPHON_CC_MAP", True),
    ("file /etc/antiphon.toml", False), ("default", False)])
def test_learnt_knobs_go_back_on_a_reread_map_from_a_flag_or_the_environment(map_from, kept):
    knobs = Knobs(SlowController(DaemonConfig()))
    knobs.learned["top_p"] = knob("top_p=30:0.5..1")
    knobs.learned["thru"] = knob("thru=31")
    reread = DaemonConfig(cc_map="temperature=21, top_p=22:0.6..1", panic_cc=31)
    got = knobs.with_learned(reread, map_from)
    if kept:  # top_p moves to 30; thru's CC is now the panic knob: dropped, said
        assert got.cc_map == "temperature=21:0.5..1.5, top_p=30:0.5..1"
        assert list(knobs.learned) == ["top_p"]
    else:  # the file holds what learn saved, and the user's edits since
        assert got is reread and knobs.learned == {}


def test_learn_says_where_the_knob_holds(tmp_path):
    from antiphon.daemon.cli.knobs_command import where_it_holds

    mine = tmp_path / "antiphon.toml"
    live = "temperature=21:0.5..1.5, top_p=30:0.5..1"
    flag = " ".join(where_it_holds(mine, str(mine), "command line", live))
    assert "not at the next start" in flag and "--cc-map" in flag and f'"{live}"' in flag
    env = " ".join(where_it_holds(mine, str(mine), "environment ANTIPHON_CC_MAP", live))
    assert "not at the next start" in env and "ANTIPHON_CC_MAP" in env
    other = " ".join(where_it_holds(tmp_path / "other.toml", str(mine), f"file {mine}", live))
    assert f"not at the next start: the daemon reads {mine}" in other
    same = " ".join(where_it_holds(mine, str(mine), f"file {mine}", live))
    assert "and at the next start" in same and "not at" not in same


@pytest.mark.parametrize("option", ["panic_cc", "end_cc"])
def test_a_panic_or_end_knob_of_fixed_meaning_is_warned_of_at_start_and_reload(option, caplog):
    from antiphon.daemon.config.loading import ConfigReader

    extra = {"phrase_end": "control"} if option == "end_cc" else {}
    reader = ConfigReader(None, {}, {option: 7, **extra})
    with caplog.at_level("WARNING"):
        reader()
        reader()  # a reload reads it again, and says it again
    said = [r.getMessage() for r in caplog.records if "CC 7 is channel volume" in r.message]
    assert len(said) == 2 and said[0].startswith(f"{option} 7"), caplog.text
    caplog.clear()
    ConfigReader(None, {}, {option: 21, **extra})()
    assert "meaning MIDI fixes" not in caplog.text


def test_set_cc_map_forgets_the_learnt_knobs_it_leaves_out():
    """A map the user sets wins: a later reload under a flag's map must not bring back a
    learnt knob they took off. A set that keeps the learnt knob as it is keeps it learnt
    (learn itself sets the map so)."""
    from types import SimpleNamespace

    flag_map = DaemonConfig(cc_map="temperature=21")

    def apply_config(new):
        daemon.config = new
        return [], []

    daemon = SimpleNamespace(config=DaemonConfig(cc_map="temperature=21, top_p=30:0.5..1, "
                                                        "thru=31"),
                             apply_config=apply_config)
    knobs = Knobs()
    controller = Controller(daemon, lambda: flag_map, load_model=None, knobs=knobs)
    knobs.learned = {"top_p": knob("top_p=30:0.5..1"), "thru": knob("thru=31")}
    answer = controller.handle({"command": "set", "key": "cc_map",
                                "value": "temperature=21, top_p=30:0.5..1"})
    assert answer["ok"], answer
    assert list(knobs.learned) == ["top_p"]
    assert knobs.with_learned(flag_map, "command line").cc_map == (
        "temperature=21:0.5..1.5, top_p=30:0.5..1")
    assert controller.handle({"command": "set", "key": "cc_map", "value": "none"})["ok"]
    assert knobs.learned == {}
    assert knobs.with_learned(flag_map, "command line") is flag_map


@pytest.mark.parametrize(("key", "value", "said"), [
    ("panic_cc", "7", "panic_cc 7: CC 7 is channel volume"),
    ("end_cc", "0", "end_cc 0: CC 0 is bank select"),
    ("cc_feedback", "on", "cc_feedback sends nothing on it"),
])
def test_set_says_when_a_control_lands_on_a_controller_of_fixed_meaning(key, value, said,
                                                                         caplog):
    """As at start and at a reload: a `set` (or OSC) that puts the panic or end knob on
    volume, or feedback beside a knob insisted on CC 11, is taken and said."""
    from types import SimpleNamespace

    config = DaemonConfig(cc_map="top_p=11!:0.5..1", phrase_end="control", end_note=100)

    def apply_config(new):
        daemon.config = new
        return [], []

    daemon = SimpleNamespace(config=config, apply_config=apply_config)
    controller = Controller(daemon, lambda: config, load_model=None)
    with caplog.at_level("WARNING"):
        answer = controller.handle({"command": "set", "key": key, "value": value})
    assert answer["ok"] and any(said in one for one in answer["warnings"]), answer
    assert said in caplog.text
    again = controller.handle({"command": "set", "key": key, "value": value})
    assert "warnings" not in again  # said once, when it came about
    free = controller.handle({"command": "set", "key": "panic_cc", "value": "21"})
    assert free["ok"] and "warnings" not in free


@pytest.mark.parametrize(("options", "swapped_on"), [
    ({}, [1]), ({"knob_channel": "3"}, [3]), ({"knob_channel": "all"}, [1, 3, 16])])
def test_a_program_change_is_heard_on_the_knob_channel_only(options, swapped_on):
    """A DAW sending another track's synth a program change on channel 3 must not swap
    Antiphon's model: programs listen where the knobs do."""
    controller = SlowController(DaemonConfig(program_models="default, transformer",
                                             **options))
    controller.release.set()
    knobs = Knobs(controller)
    knobs.start()
    try:
        for channel in (1, 3, 16):
            knobs([0xC0 | (channel - 1), 1])  # program 2
        assert wait_until(lambda: knobs.carried_out == len(swapped_on), 5)
        assert knobs.other_channels == 3 - len(swapped_on)
    finally:
        knobs.stop()
    assert controller.requests == [{"command": "model", "name": "transformer"}] * len(
        swapped_on)


@pytest.mark.parametrize("option", ["panic_cc", "end_cc"])
@pytest.mark.parametrize("cc", [120, 121, 123, 127])
def test_a_panic_or_end_knob_on_a_channel_mode_message_is_refused(option, cc):
    """The input takes all notes off, reset and the other mode messages for itself: a
    panic there would never fire."""
    extra = {"phrase_end": "control"} if option == "end_cc" else {}
    with pytest.raises(ConfigError, match=f"{cc} is a channel mode message") as caught:
        DaemonConfig(**{option: cc}, **extra)
    assert caught.value.field == option
    DaemonConfig(**{option: 119}, **extra)  # the last controller is one
