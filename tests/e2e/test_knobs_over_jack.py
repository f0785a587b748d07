"""A MIDI controller's knobs on `antiphon run` over the real JACK server: a knob turned sets
the option `antiphon status` reports, `antiphon learn` maps the next knob turned and saves
it in the config file, and with --cc-feedback a setting changed from the control socket
comes out as its knob's CC (and, looped back into the input, is not taken for a turn).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from e2e_support import antiphon_command, e2e_model_path, wait_until
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app
from antiphon.daemon.config.loading import read_toml
from antiphon.daemon.control.socket_server import ask

pytestmark = pytest.mark.jack


def settings(process) -> dict:
    return ask(process.socket, {"command": "status"})["status"]["settings"]


def turned(keys, move: list[int], taken) -> bool:  # noqa: ANN001
    """Send a knob's `move` until `taken()` (once a second, for up to 5 s)."""
    for _ in range(5):
        keys.keyboard.send_message(move)
        if wait_until(taken, 1):
            return True
    return False


def jack(command: str, *ports: str, env: dict) -> None:
    subprocess.run([command, *ports], env=env, check=True, timeout=10, capture_output=True)


def test_a_knob_sets_temperature_and_its_value_comes_back_out(daemon, player, jack_server):
    process = daemon("--cc-map", "temperature=21:0.5..1.5, scale=23:C major|D dorian",
                     "--cc-feedback", "--channel", "2")
    keys = player()
    # Each move is sent again while it is not taken: under load JACK may drop a message
    # between two clients, and the same value again is the same turn of the knob.
    assert turned(keys, [0xB0, 21, 127], lambda: settings(process)["temperature"] == 1.5), (
        process.output())
    assert turned(keys, [0xB0, 23, 100], lambda: settings(process)["scale"] == "D dorian"), (
        process.output())
    answer = ask(process.socket, {"command": "set", "key": "temperature", "value": "0.75"})
    assert answer["ok"], answer
    # Fed back on the channel the knob is heard on (1), not the answer's (2): a controller's
    # LED ring listens where its knob sends.
    assert wait_until(lambda: [0xB0, 21, 32] in [m for _, m in keys.messages()], 2), (
        keys.messages())
    # The output looped into the input: the daemon's own CC must not turn its knob (it
    # would set 0.752, where the knob's 32 lands, not the 0.8 asked for).
    jack("jack_connect", "Antiphon Out:out", "Antiphon In:in", env=jack_server.env)
    time.sleep(0.2)  # let JACK make the connection
    try:
        ask(process.socket, {"command": "set", "key": "temperature", "value": "0.8"})
        assert wait_until(lambda: [0xB0, 21, 38] in [m for _, m in keys.messages()], 2)
        assert wait_until(lambda: ask(process.socket, {"command": "status"})["status"]
                          ["counters"]["echoes"] >= 1, 2), process.output()
        assert settings(process)["temperature"] == 0.8
    finally:
        jack("jack_disconnect", "Antiphon Out:out", "Antiphon In:in", env=jack_server.env)
    sent = CliRunner().invoke(app, ["knobs", "--send", "--control-socket", str(process.socket)])
    assert sent.exit_code == 0 and "sent 2 knob values on channel 1" in sent.stdout


def test_learn_maps_the_next_knob_and_saves_it_in_the_config_file(daemon, player, tmp_path):
    process = daemon()
    keys = player()
    file = tmp_path / "antiphon.toml"
    file.write_text("# my rig\nbpm = 96.0\n")
    learning = subprocess.Popen(
        antiphon_command("learn", "top_p", "--range", "0.5..1", "--timeout", "20",
                         "--config", str(file), "--control-socket", str(process.socket)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"})
    try:
        process.wait_for(r"learning: the next knob turned sets top_p", timeout=20)
        keys.keyboard.send_message([0xB0, 30, 100])
        said, _ = learning.communicate(timeout=20)
    finally:
        learning.kill()
    assert learning.returncode == 0, said
    assert "top_p on CC 30 (0.5..1)" in said
    assert file.read_text().startswith("# my rig\nbpm = 96.0\n")
    assert read_toml(file) == {"bpm": 96.0, "cc_map": "top_p=30:0.5..1"}
    assert settings(process)["cc_map"] == "top_p=30:0.5..1"
    keys.keyboard.send_message([0xB0, 30, 0])  # mapped at once: the knob works
    assert wait_until(lambda: settings(process)["top_p"] == 0.5, 5), process.output()
    runner = CliRunner()
    idle = runner.invoke(app, ["learn", "temperature", "--timeout", "0.3", "--config",
                               str(file), "--control-socket", str(process.socket)])
    assert idle.exit_code == 1 and "no knob moved within 0.3 s" in idle.output
    assert "temperature" not in file.read_text()
    cancelled = subprocess.Popen(antiphon_command(
        "learn", "temperature", "--timeout", "20", "--control-socket", str(process.socket)))
    assert wait_until(lambda: process.output().count(  # the idle one's said so too
        "learning: the next knob turned sets temperature") == 2, 20), process.output()
    cancelled.send_signal(signal.SIGINT)  # the user gives up on it
    assert cancelled.wait(10) == 130
    process.wait_for(r"learn cancelled: its client went away", timeout=5)
    keys.keyboard.send_message([0xB0, 31, 90])  # a knob turned later maps nothing
    time.sleep(0.5)
    assert settings(process)["cc_map"] == "top_p=30:0.5..1"
    nobody = runner.invoke(app, ["learn", "temperature", "--control-socket",
                                 str(tmp_path / "none.sock")])
    assert nobody.exit_code == 1 and "no Antiphon daemon answers" in nobody.output


@pytest.mark.parametrize("given_by", ["flag", "environment"])
def test_a_learnt_knob_outlives_a_reload_when_a_flag_or_the_environment_gives_the_map(
        given_by, daemon, player, jack_server, tmp_path):
    """`--cc-map` or ANTIPHON_CC_MAP wins over the file learn saves in: a reload must not
    drop the knob just learnt, and learn must say it will not hold at the next start."""
    file = tmp_path / "antiphon.toml"
    file.write_text(f"model = {json.dumps(str(e2e_model_path()))}\n")
    given = "temperature=21:0.5..1.5"
    if given_by == "flag":
        process = daemon("--config", str(file), "--cc-map", given)
    else:
        process = daemon("--config", str(file),
                         env={**jack_server.env, "ANTIPHON_CC_MAP": given})
    keys = player()
    learning = subprocess.Popen(  # no --config: saved where the daemon reads
        antiphon_command("learn", "top_p", "--range", "0.5..1", "--timeout", "20",
                         "--control-socket", str(process.socket)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "300"})
    try:
        process.wait_for(r"learning: the next knob turned sets top_p", timeout=20)
        keys.keyboard.send_message([0xB1, 30, 100])  # another channel: no knob of ours
        keys.keyboard.send_message([0xB0, 30, 100])
        said, _ = learning.communicate(timeout=20)
    finally:
        learning.kill()
    said = " ".join(said.split())
    assert learning.returncode == 0, said
    assert read_toml(file)["cc_map"] == "top_p=30:0.5..1", said
    where = "--cc-map" if given_by == "flag" else "ANTIPHON_CC_MAP"
    assert "works now, and at reloads" in said and "not at the next start" in said, said
    assert where in said and json.dumps(f"{given}, top_p=30:0.5..1") in said, said
    assert ask(process.socket, {"command": "reload"})["ok"]
    assert settings(process)["cc_map"] == f"{given}, top_p=30:0.5..1", process.output()
    keys.keyboard.send_message([0xB0, 30, 0])  # the learnt knob still works...
    keys.keyboard.send_message([0xB0, 21, 127])  # ... beside the given one
    assert wait_until(lambda: settings(process)["temperature"] == 1.5, 5), process.output()
    assert settings(process)["top_p"] == 0.5
