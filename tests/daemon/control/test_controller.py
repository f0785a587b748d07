"""The Controller over a running Daemon on in-process loopback ports: live settings change
what the loop plays by, refusals change nothing, reloads and model swaps are all or nothing,
panic silences, and the status carries what `antiphon status` prints.

Each test plays a one-note call through the loopback keyboard and looks at what the session
was asked to generate and what reached the recorder: the effect, not only the config.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import unmatched_note_ons, wait_until

from antiphon.daemon.cli.control import render_status
from antiphon.daemon.config.daemon_config import LIVE_OPTIONS, ConfigError, DaemonConfig
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.service.daemon import Daemon
from antiphon.daemon.service.startup import load_session
from antiphon.engine.constraints import scale_pitch_classes
from antiphon.engine.events import TICKS_PER_BEAT

# Fast beats (0.25 s) and short answers keep each call-and-response under two seconds.
CONFIG = DaemonConfig(bpm=240, min_answer_beats=2, max_answer_beats=4, seed=7, device="cpu")
ALL_NOTES_OFF = 123


class CardedSession(FakeSession):
    """A FakeSession with what the controller reads of a session: its model's card, path
    and device, and `advance_to` (a swapped-in session starts where the old one is)."""

    def __init__(self, name: str = "fake", **options) -> None:
        super().__init__(**options)
        card = SimpleNamespace(name=name, family="fake", representation="events")
        self.model = SimpleNamespace(card=card, path=Path(f"/models/{name}.onnx"), device="cpu")
        self.advanced_to: list[int] = []

    def advance_to(self, tick: int) -> None:
        self.advanced_to.append(tick)
        self.tick = max(self.tick, tick)


class BatchedSession(CardedSession):
    """Samples its candidates as one batch, as a model with batch axes does (best of N,
    live): each candidate is a `generate` of its own, recorded; the daemon adopts the best."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.model.batch_axes = {"batch": 0}
        self.batches: list[int] = []  # how many candidates each answer drew

    def mark(self) -> int:
        return self.tick

    def restore(self, mark: int) -> None:
        self.tick = mark

    def sample_candidates(self, start_tick, length_ticks, n, temperature, max_rest, rules,
                          top_p, stop=None):
        self.batches.append(n)
        before, drawn = self.tick, []
        for _ in range(n):
            self.tick = before
            events = list(self.generate(start_tick, length_ticks, temperature, max_rest,
                                        rules, top_p))
            drawn.append(SimpleNamespace(events=events, end=self.tick))
        self.tick = before
        return drawn

    def adopt(self, candidate) -> None:
        self.tick = max(self.tick, candidate.end)


class Rig:
    """A started Daemon, its Controller, a keyboard into it and a recorder of its output."""

    def __init__(self, session, config: DaemonConfig = CONFIG, load_model=None) -> None:
        keyboard, daemon_in = loopback_pair("keys")
        daemon_out, recorder_in = loopback_pair("synth")
        self.recorder = MessageRecorder()
        recorder_in.set_receiver(self.recorder)
        self.keyboard = keyboard
        self.daemon = Daemon(config, session, daemon_in, daemon_out)
        self.reread = lambda: config  # a test replaces it: what the config file says now
        self.controller = Controller(self.daemon, lambda: self.reread(),
                                     load_model or refuse_to_load, "/run/test/control.sock")
        self.daemon.start()

    def set(self, key: str, value) -> dict:
        return self.controller.handle({"command": "set", "key": key, "value": value})

    def call_and_answer(self, channel: int = 1) -> None:
        """Play one short note; wait until the answer was generated and has ended."""
        session = self.daemon.loop.session
        asked = len(session.generated)
        finished = self.daemon.loop.stats.answers_finished
        self.keyboard.send([0x90 | (channel - 1), 60, 100])
        self.keyboard.send([0x80 | (channel - 1), 60, 0])
        assert wait_until(lambda: len(session.generated) > asked, 10), "no answer generated"
        assert wait_until(lambda: self.daemon.loop.stats.answers_finished > finished, 10)

    def messages(self) -> list[list[int]]:
        return [message for _, message in self.recorder.messages()]


def refuse_to_load(config: DaemonConfig):
    raise OSError(f"cannot read {config.model}: truncated file")


@pytest.fixture
def rig():
    rigs = []
    root_level = logging.getLogger().level  # a live change sets the root logger's level

    def make(session=None, **options) -> Rig:
        rigs.append(Rig(session or CardedSession(), **options))
        return rigs[-1]

    yield make
    for made in rigs:
        made.daemon.stop()
    logging.getLogger().setLevel(root_level)


def test_every_kind_of_live_option_changes_what_the_loop_plays(rig):
    session = BatchedSession()
    r = rig(session)
    for key, value, expected in (
        ("temperature", "0.5", 0.5),  # a float, as text from the command line
        ("top-p", 0.8, 0.8),  # a number as OSC sends it, and a dashed key
        ("min_answer_beats", "3", 3.0),
        ("channel", "3", 3),  # an int
        ("max_polyphony", "2", 2),  # an optional int
        ("texture", "chords", "chords"),  # a choice (auto would hold this call to one voice)
        ("candidates", "4", 4),  # best of 4 from the next answer on
        ("scale", "C major", "C major"),  # text
        ("bpm", "200", 200.0),
    ):
        answer = r.set(key, value)
        assert answer == {"ok": True, "key": key.replace("-", "_"), "value": expected}
        assert getattr(r.daemon.config, key.replace("-", "_")) == expected
    assert r.daemon.clock.bpm == 200.0
    assert session.batches == []  # one answer drawn at a time so far
    r.call_and_answer()
    assert session.batches == [4]  # best of 4, as set
    start, length, temperature = session.generated[-1]
    assert temperature == 0.5 and session.top_ps[-1] == 0.8
    assert 3 * TICKS_PER_BEAT <= length <= 4 * TICKS_PER_BEAT
    rules = session.rules[-1]
    assert rules.pitch_classes == scale_pitch_classes("C major") and rules.max_polyphony == 2
    note_ons = [m for m in r.messages() if m[0] & 0xF0 == 0x90 and m[2] > 0]
    assert note_ons and {m[0] & 0x0F for m in note_ons} == {2}  # channel 3

    assert r.set("max_polyphony", "none") == {"ok": True, "key": "max_polyphony", "value": None}
    assert r.set("texture", "melody")["value"] == "melody"
    r.call_and_answer()
    assert session.rules[-1].max_polyphony == 1  # one voice, whatever the call
    assert r.set("texture", "default")["value"] == "auto"
    r.call_and_answer()
    assert session.rules[-1].max_polyphony == 1  # the call is one note: a single line
    assert r.set("texture", "chords")["value"] == "chords"
    assert r.set("scale", "None")["value"] == "auto"  # back to the default, as documented
    assert r.set("scale", "chromatic")["value"] == "chromatic"  # any pitch
    r.call_and_answer()
    assert session.rules[-1].max_polyphony is None
    assert session.rules[-1].pitch_classes == frozenset(range(12))


def test_listen_channels_changes_which_calls_are_heard(rig):
    r = rig()
    assert r.set("listen_channels", "2-4")["value"] == "2-4"
    assert r.daemon.gate.channels == frozenset({2, 3, 4})
    other = r.daemon.gate.stats.other_channels
    r.keyboard.send([0x90, 60, 100])  # channel 1: no longer listened to
    r.keyboard.send([0x80, 60, 0])
    assert r.daemon.gate.stats.other_channels == other + 2
    r.call_and_answer(channel=3)  # a listened channel still calls
    assert r.daemon.loop.stats.phrases_heard == 1


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("temperature", "0", "must be > 0"),
    ("temperature", "warm", "expected a number"),
    ("temperature", None, "always has a value"),
    ("channel", "17", "<= 16"),
    ("channel", "2.5", "expected a whole number"),
    ("max_polyphony", "0", ">= 1"),
    ("texture", "bogus", "must be one of auto, melody, chords"),
    ("candidates", "0", ">= 1"),
    ("candidates", "17", "<= 16"),
    ("scale", "H major", "H major"),
    ("listen_channels", "0-3", "channels are 1..16"),
    ("min_answer_beats", "8", "max_answer_beats"),  # above the max: the pair is checked
    ("in_port", "elsewhere", "read once, at start"),
    ("device", "cuda", "restart the daemon"),
    ("temprature", "1", "did you mean temperature"),
    ("", "1", "no option"),
])
def test_a_refused_setting_changes_nothing(rig, key, value, reason):
    r = rig()
    before = r.daemon.config
    answer = r.set(key, value)
    assert answer["ok"] is False and reason in answer["error"], answer
    assert r.daemon.config is before
    r.call_and_answer()
    assert r.daemon.loop.session.generated[-1][2] == CONFIG.temperature


def test_a_reload_whose_config_is_broken_is_refused_whole(rig):
    r = rig()

    def broken():
        raise ConfigError(None, "config file /etc/antiphon.toml: not valid TOML (line 3)")

    r.reread = broken
    before = r.daemon.config
    answer = r.controller.handle({"command": "reload"})
    assert answer["ok"] is False
    assert "reload refused, the old config keeps playing" in answer["error"]
    assert "line 3" in answer["error"]
    assert r.daemon.config is before and r.controller.reloads == 0


def test_a_reload_applies_live_options_and_names_those_that_need_a_restart(rig):
    r = rig()
    r.reread = lambda: dataclasses.replace(CONFIG, temperature=0.6, in_port="elsewhere",
                                           backend="jack", listen_channels="all")
    answer = r.controller.handle({"command": "reload"})
    assert answer["ok"] is True
    assert sorted(answer["applied"]) == ["listen_channels", "temperature"]
    assert sorted(answer["needs_restart"]) == ["backend", "in_port"]
    config = r.daemon.config
    # The config says what plays: the ports and backend are still the ones opened.
    assert (config.temperature, config.in_port, config.backend) == (0.6, None, "auto")
    assert r.daemon.gate.channels == frozenset(range(1, 17))
    assert r.controller.reloads == 1
    r.call_and_answer(channel=10)  # the drum channel, listened to from now on
    assert r.daemon.loop.session.generated[-1][2] == 0.6


def test_a_reload_whose_new_model_fails_applies_none_of_its_settings(rig):
    old = CardedSession("old")
    r = rig(old)
    r.reread = lambda: dataclasses.replace(CONFIG, temperature=0.3, model="broken.onnx")
    answer = r.controller.handle({"command": "reload"})
    assert answer["ok"] is False and "refused, the old one keeps playing" in answer["error"]
    assert "truncated file" in answer["error"]
    assert r.daemon.config == CONFIG and r.daemon.loop.session is old
    r.call_and_answer()
    assert old.generated[-1][2] == CONFIG.temperature


def test_a_reload_with_a_new_model_swaps_it_in(rig):
    new = CardedSession("new")
    r = rig(load_model=lambda config: new)
    r.reread = lambda: dataclasses.replace(CONFIG, model="new")
    answer = r.controller.handle({"command": "reload"})
    assert answer == {"ok": True, "applied": ["model"], "needs_restart": []}
    assert r.daemon.loop.session is new and r.daemon.config.model == "new"
    r.call_and_answer()
    assert new.generated


def test_a_model_that_does_not_load_leaves_the_old_one_playing(rig):
    old = CardedSession("old")
    r = rig(old)
    for request in ({"command": "model", "name": "broken.onnx"},
                    {"command": "set", "key": "model", "value": "broken.onnx"},
                    {"command": "model", "name": 5}):
        answer = r.controller.handle(request)
        assert answer["ok"] is False, request
        assert r.daemon.loop.session is old and r.daemon.config.model is None
    assert r.controller.model_swaps == 0
    r.call_and_answer()
    assert old.generated


def test_a_model_that_loads_is_swapped_in_and_answers_next(rig):
    old, new = CardedSession("old"), CardedSession("new")
    r = rig(old, load_model=lambda config: new)
    r.call_and_answer()
    answer = r.controller.handle({"command": "model", "name": "new"})
    assert answer["ok"] is True and answer["model"]["card_name"] == "new"
    assert answer["model"]["name"] == "new" and answer["model"]["path"] == "/models/new.onnx"
    assert r.daemon.loop.session is new and r.daemon.config.model == "new"
    assert new.advanced_to and new.advanced_to[-1] >= 0  # starts where the old one was
    heard = len(old.generated)
    r.call_and_answer()
    assert new.generated and len(old.generated) == heard
    assert r.controller.status()["counters"]["model_swaps"] == 1


def test_panic_releases_the_sounding_answer_and_sends_all_notes_off(rig):
    long_answers = dataclasses.replace(CONFIG, min_answer_beats=16, max_answer_beats=16)
    r = rig(config=long_answers)
    r.keyboard.send([0x90, 60, 100])
    r.keyboard.send([0x80, 60, 0])
    assert wait_until(lambda: r.daemon.scheduler.sounding(), 10), "the answer never sounded"
    answer = r.controller.handle({"command": "panic"})
    assert answer["ok"] is True and answer["released"] >= 1
    messages = r.messages()
    assert [0xB0, ALL_NOTES_OFF, 0] in messages
    assert unmatched_note_ons(messages) == {}
    assert r.daemon.scheduler.sounding() == []
    # The answer had 4 s to go, a note every half beat: none of it may follow the panic.
    time.sleep(1.0)
    after = r.messages()[len(messages):]
    assert not [m for m in after if m[0] & 0xF0 == 0x90 and m[2] > 0], after
    r.call_and_answer()  # and the daemon answers the next call


def test_status_with_a_real_model_has_what_the_cli_prints_and_is_json(rig, capsys):
    session = load_session(CONFIG)
    r = rig(session)
    r.keyboard.send([0x90, 60, 100])
    r.keyboard.send([0x80, 60, 0])
    assert wait_until(lambda: r.daemon.loop.stats.answers_finished == 1, 15)
    answer = r.controller.handle({"command": "status"})
    assert answer["ok"] is True
    state = json.loads(json.dumps(answer["status"]))  # what the socket sends: plain JSON
    assert {"pid", "uptime_seconds", "resident_mb", "mode", "model", "tempo", "ports",
            "counters", "answer_latency_ms", "generation_ms", "send_error_ms", "settings",
            "control_socket", "osc", "record"} <= state.keys()
    assert state["model"]["card_name"] == "default" and state["model"]["device"] == "cpu"
    assert state["model"]["family"] and Path(state["model"]["path"]).is_file()
    assert state["ports"]["input"] == {"port": "keys", "state": "open"}
    assert state["counters"]["phrases"] == 1 and state["counters"]["answers"] == 1
    assert state["counters"]["sent"] == state["send_error_ms"]["count"] > 0
    assert state["answer_latency_ms"]["count"] == 1
    assert list(state["settings"]) == list(LIVE_OPTIONS)
    assert state["tempo"]["bpm"] == 240.0 and state["mode"] == "idle"
    assert state["control_socket"] == "/run/test/control.sock" and state["osc"] is None
    render_status(state)  # raises KeyError should a key the CLI reads be missing
    printed = capsys.readouterr().out
    assert "idle" in printed and "keys" in printed and "temperature=1.0" in printed
    assert "not recording" in printed  # this rig's Controller has no recorder


def test_brief_is_the_part_of_the_status_osc_sends(rig):
    r = rig()
    r.set("temperature", "0.7")
    brief, status = r.controller.brief(), r.controller.status()
    assert brief["mode"] == status["mode"] and brief["settings"] == status["settings"]
    assert brief["settings"]["temperature"] == 0.7
    assert set(brief["counters"]) == {"phrases", "answers", "barge_ins", "late_answers"}


@pytest.mark.parametrize("content, reason", [
    (b"# tempo for the caf\xe9 gig\nbpm = 90\n", "not UTF-8 text (byte 0xe9"),
    (b"a = " + b"[" * 100_000 + b"\n", "nested too deeply"),
    (b"channel = 1" + b"0" * 400 + b"\n", "a number of 401 digits"),
    (b"bpm = 1" + b"0" * 400 + b"\n", "far too large"),
], ids=["latin-1", "deeply nested", "huge whole number", "huge number"])
def test_a_reload_of_a_file_no_parser_takes_is_refused_and_play_goes_on(rig, tmp_path,
                                                                       content, reason):
    from antiphon.daemon.config.loading import load_config

    r = rig()
    path = tmp_path / "antiphon.toml"
    path.write_bytes(content)
    r.reread = lambda: load_config(path, {}, {})
    answer = r.controller.handle({"command": "reload"})
    assert answer["ok"] is False, answer
    assert "reload refused, the old config keeps playing" in answer["error"]
    assert reason in answer["error"] and str(path) in answer["error"], answer
    r.call_and_answer()  # still playing, on the old config


def test_a_reload_that_fails_in_an_unforeseen_way_is_refused_too(rig):
    r = rig()

    def failing():
        raise RuntimeError("the disk said something new")

    r.reread = failing
    answer = r.controller.handle({"command": "reload"})
    assert answer["ok"] is False and "the disk said something new" in answer["error"]
    r.call_and_answer()


def test_a_request_that_fails_in_an_unforeseen_way_is_answered_not_raised(rig, caplog):
    r = rig()

    def failing_panic():
        raise RuntimeError("a bug")

    r.controller._panic = failing_panic  # stands in for a bug: no request reaches one today
    with caplog.at_level(logging.ERROR, logger="antiphon.daemon.control.controller"):
        answer = r.controller.handle({"command": "panic"})
    assert answer == {"ok": False, "error": "internal error: a bug"}
    assert "RuntimeError: a bug" in caplog.text and "Traceback" not in caplog.text
    r.call_and_answer()


@pytest.mark.parametrize("key, value", [("channel", 10**400), ("channel", str(10**400)),
                                        ("bpm", 10**400), ("max_polyphony", 10**400)])
def test_a_number_of_absurd_size_is_refused_with_a_clear_reason(rig, key, value):
    r = rig()
    answer = r.set(key, value)
    assert answer["ok"] is False and "internal error" not in answer["error"], answer
    assert len(answer["error"]) < 300, answer


def test_set_takes_ascii_digits_only(rig):
    r = rig()
    for text in ("١٢٠", "1_20"):
        answer = r.set("bpm", text)
        assert answer["ok"] is False and "expected a number" in answer["error"], answer
    assert r.set("bpm", " 120 ")["ok"]


def test_the_status_says_which_take_is_recorded_and_where(tmp_path, capsys):
    from antiphon.daemon.control.controller import record_state
    from antiphon.daemon.record.recorder import TakeRecorder

    assert record_state(None) == {"recording": False}
    recorder = TakeRecorder(tmp_path / "takes")
    take = recorder.open()
    try:
        state = record_state(recorder)
        assert state == {"recording": True, "take": take, "folder": str(tmp_path / "takes"),
                         "failure": None}
    finally:
        recorder.close()
    assert record_state(recorder)["recording"] is False  # closed: the take is over
