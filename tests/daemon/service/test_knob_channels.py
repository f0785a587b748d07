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
from test_cc_map import SlowController, knob

from antiphon.daemon.service.cc_map import FIXED_MEANING_CCS, feedback_messages, parse_cc_map
from antiphon.daemon.service.config import ConfigError, DaemonConfig
from antiphon.daemon.service.config_loading import load_config
from antiphon.daemon.service.control import Controller
from antiphon.daemon.service.knobs import KnobError, Knobs

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
    daemon = SimpleNamespace(config=config, clock=None)
    answer = Controller(daemon, lambda: config, None).handle(
        {"command": "set", "key": "cc_map", "value": "top_p=7:0..1"})
    assert not answer["ok"] and "CC 7 is channel volume" in answer["error"]
    free = "top_p=21:0.5..1, thru=7!"  # asked for on purpose: taken, and fed back as asked
    assert feedback_messages(DaemonConfig(cc_map=free), parse_cc_map(free)) == [
        (0xB0, 21, 127), (0xB0, 7, 0)]


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
        for move in moves:
            knobs(move)
        return learnt.get(timeout=timeout + 5)
    finally:
        knobs.stop()


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
    from antiphon.daemon.service.config_loading import ConfigReader

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
