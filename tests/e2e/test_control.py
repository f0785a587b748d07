"""Steering a running `antiphon run` over the real JACK server: `antiphon status`, `set`,
`model`, `panic` and `reload` through its control socket, as a user types them.

A JACK recorder on Antiphon's output hears every note; after each change the test plays
another phrase and checks the daemon still answers and leaves no note sounding.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from e2e_support import (
    ANSWER_BOUND_SECONDS,
    BEAT,
    PHRASE,
    DaemonProcess,
    JackPlayer,
    answers_finished,
    antiphon_command,
    backend_args,
    e2e_model_path,
    wait_until,
)

pytestmark = pytest.mark.jack

C_MAJOR = {0, 2, 4, 5, 7, 9, 11}


def cli(process: DaemonProcess, *args: str) -> subprocess.CompletedProcess:
    """`antiphon ARGS --control-socket <the daemon's>`, as a user runs it."""
    return subprocess.run(
        antiphon_command(*args, "--control-socket", str(process.socket)),
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )


def status(process: DaemonProcess) -> dict:
    result = cli(process, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def answer_once(player: JackPlayer, process: DaemonProcess, answer_beats: float = 4) -> list:
    """Play the phrase, wait for the whole answer; returns its note-ons. Fails when none
    comes or a note stays on."""
    before = len(player.note_ons())
    finished = answers_finished(process)
    player.play(PHRASE, BEAT)
    assert wait_until(lambda: len(player.note_ons()) > before, ANSWER_BOUND_SECONDS + 2), (
        f"no answer; antiphon said:\n{process.output()}")
    # Its end by the daemon's word: an answer may rest between notes.
    wait_until(lambda: answers_finished(process) > finished, answer_beats * BEAT + 2)
    player.released(process, 2)
    assert player.sounding() == {}, f"notes left sounding: {player.sounding()}"
    return [message for _, message in player.note_ons()[before:]]


def test_status_reports_ports_model_mode_and_counters(daemon, player):
    process = daemon("--max-answer-beats", "4")
    keys = player()
    answer_once(keys, process)
    assert wait_until(lambda: status(process)["counters"]["answers"] >= 1, 5)
    state = status(process)
    assert state["mode"] == "idle"
    assert state["model"]["family"] == "lstm" and state["model"]["representation"] == "events"
    assert state["tempo"] == {"bpm": 120.0, "source": "internal"}
    assert state["ports"]["midi_system"] == "jack" and state["ports"]["system"] == "running"
    assert state["ports"]["input"]["port"] == "Antiphon In:in"
    assert state["ports"]["output"]["state"] == "open"
    counters = state["counters"]
    assert counters["phrases"] == 1 and counters["answers"] == 1
    assert counters["received"] >= 2 * len(PHRASE) and counters["sent"] >= 2
    assert state["answer_latency_ms"]["count"] == 1
    assert 0 < state["answer_latency_ms"]["p50"] < 2000
    assert state["send_error_ms"]["count"] == counters["sent"]
    assert state["uptime_seconds"] > 0 and 50 < state["resident_mb"] < 2000
    assert Path(state["control_socket"]) == process.socket
    assert process.socket.stat().st_mode & 0o777 == 0o600
    human = cli(process, "status")
    assert human.returncode == 0 and "idle" in human.stdout and "Antiphon In:in" in human.stdout


def test_set_changes_what_plays_and_refuses_bad_values(daemon, player):
    process = daemon("--max-answer-beats", "4")
    keys = player()
    for key, value in (("scale", "C major"), ("channel", "3"), ("temperature", "0.7")):
        result = cli(process, "set", key, value)
        assert result.returncode == 0, result.stderr
    notes = answer_once(keys, process)
    assert {message[1] % 12 for message in notes} <= C_MAJOR, notes
    assert {message[0] & 0x0F for message in notes} == {2}, notes  # channel 3
    for key, value, reason in (
        ("temperature", "0", "must be > 0"),
        ("top-p", "1.5", "<= 1"),
        ("scale", "H major", "scale 'H major'"),
        ("channel", "17", "<= 16"),
        ("lowest-pitch", "-1", ">= 0"),
        ("in_port", "elsewhere", "restart"),
        ("temprature", "1", "did you mean temperature"),
    ):
        result = cli(process, "set", key, value)
        assert result.returncode == 1, (key, value, result.stdout)
        assert reason in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    settings = status(process)["settings"]
    assert (settings["temperature"], settings["scale"], settings["channel"]) == (
        0.7, "C major", 3)
    assert cli(process, "set", "scale", "none").returncode == 0
    assert status(process)["settings"]["scale"] == "auto"  # the default
    answer_once(keys, process)


def test_hot_model_swap_mid_answer_hangs_no_note(daemon, player, tmp_path):
    process = daemon("--min-answer-beats", "8", "--max-answer-beats", "8")
    keys = player()
    keys.play(PHRASE, BEAT)
    assert wait_until(lambda: keys.note_ons(), ANSWER_BOUND_SECONDS + 2), process.output()
    swapped = cli(process, "model", "transformer")  # while the answer plays
    assert swapped.returncode == 0, swapped.stderr
    assert "transformer" in swapped.stdout
    keys.released(process, 8 * BEAT + 2)
    assert keys.sounding() == {}, f"notes left sounding: {keys.sounding()}"
    state = status(process)
    assert state["model"]["name"] == "transformer"
    assert state["model"]["family"] == "transformer"
    assert state["counters"]["model_swaps"] == 1
    answer_once(keys, process, answer_beats=8)  # the new model answers

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model at all")
    for bad in (str(corrupt), "no-such-model"):
        refused = cli(process, "model", bad)
        assert refused.returncode == 1 and "refused" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert status(process)["model"]["name"] == "transformer"
    answer_once(keys, process, answer_beats=8)  # the old model plays on
    assert process.process.poll() is None


def test_reload_applies_a_new_config_and_refuses_a_bad_one(daemon, player, tmp_path):
    config = tmp_path / "antiphon.toml"
    config.write_text(f'temperature = 0.9\nmax_answer_beats = 4.0\nmodel = "{e2e_model_path()}"\n')
    process = daemon("--config", str(config))
    keys = player()
    config.write_text('temperature = 0.6\nmax_answer_beats = 4.0\nmodel = "nade-jsb"\n'
                      'scale = "C major"\nin_port = "somewhere else"\n')
    reloaded = cli(process, "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert "only at a restart" in reloaded.stdout and "in_port" in reloaded.stdout
    state = status(process)
    assert state["settings"]["temperature"] == 0.6 and state["settings"]["scale"] == "C major"
    assert state["model"]["name"] == "nade-jsb" and state["model"]["representation"] == "pianoroll"
    assert state["ports"]["input"]["port"] == "Antiphon In:in"  # ports change at a restart
    notes = answer_once(keys, process)
    assert {message[1] % 12 for message in notes} <= C_MAJOR

    for broken, reason in (("temperature = [", "not valid TOML"),
                           ("temperature = -3", "temperature"),
                           ('model = "no-such-model"', "refused")):
        config.write_text(broken + "\n")
        refused = cli(process, "reload")
        assert refused.returncode == 1 and reason in refused.stderr, refused.stderr
        assert "keeps playing" in refused.stderr
    state = status(process)
    assert state["settings"]["temperature"] == 0.6 and state["model"]["name"] == "nade-jsb"
    answer_once(keys, process)


def test_panic_through_the_socket_silences_the_answer_and_plays_on(daemon, player):
    process = daemon("--min-answer-beats", "16", "--max-answer-beats", "16")
    keys = player()
    keys.play(PHRASE, BEAT)
    assert wait_until(lambda: keys.note_ons(), ANSWER_BOUND_SECONDS + 2), process.output()
    result = cli(process, "panic")
    assert result.returncode == 0 and "the daemon on" in result.stdout, result.stderr
    assert wait_until(lambda: any(message[:2] == [0xB0, 123] for _, message in keys.messages()),
                      2), "no All Notes Off heard"
    assert keys.released(process, 1), keys.sounding()
    heard = len(keys.note_ons())
    time.sleep(4 * BEAT)
    assert len(keys.note_ons()) == heard, "the dropped answer went on playing"
    answer_once(keys, process, answer_beats=16)


def test_a_second_daemon_on_the_same_socket_refuses_to_start(daemon, jack_server):
    first = daemon()
    second = DaemonProcess([*backend_args(), "--control-socket", str(first.socket),
                            "--in-port", "nothing", "--out-port", "nothing"], jack_server.env)
    code = second.process.wait(60)
    assert code == 1, second.output()
    assert f"another Antiphon daemon (pid {first.process.pid}) is running" in second.output()
    assert "Traceback" not in second.output()
    assert status(first)["pid"] == first.process.pid  # the first one is untouched
