"""Playing with Antiphon over the real JACK server as a keyboard player does: the sustain
pedal, MIDI thru, and a patching mistake that loops its output back into its input."""

from __future__ import annotations

import subprocess
import time

import pytest
from e2e_support import ANSWER_BOUND_SECONDS, BEAT, PHRASE, JackPlayer, wait_until

pytestmark = pytest.mark.jack


@pytest.fixture
def player():
    made = []

    def make() -> JackPlayer:
        made.append(JackPlayer())
        return made[-1]

    yield make
    for each in made:
        each.close()


def jack(command: str, *ports: str, env: dict) -> None:
    subprocess.run([command, *ports], env=env, check=True, timeout=10, capture_output=True)


def test_output_looped_back_into_the_input_is_not_answered(daemon, player, jack_server):
    process = daemon("--max-answer-beats", "2", "--min-answer-beats", "2")
    keys = player()
    jack("jack_connect", "Antiphon Out:out", "Antiphon In:in", env=jack_server.env)
    try:
        keys.play(PHRASE, BEAT)
        assert wait_until(lambda: keys.note_ons(), ANSWER_BOUND_SECONDS + 2), process.output()
        time.sleep(10 * BEAT)  # long enough for the looped answer to be taken for a call
        answers = process.output().count("answer: ")
        assert answers == 1, process.output()
        assert "feedback: Antiphon's own output comes back into its input" in process.output()
        assert keys.sounding() == {}
    finally:
        jack("jack_disconnect", "Antiphon Out:out", "Antiphon In:in", env=jack_server.env)
    keys.play(PHRASE, BEAT)  # the loop gone, it answers the player again
    assert wait_until(lambda: process.output().count("answer: ") == 2, ANSWER_BOUND_SECONDS + 2)


def test_thru_sends_the_players_notes_on_and_a_stop_releases_a_held_one(daemon, player):
    process = daemon("--thru")
    keys = player()
    keys.keyboard.send_message([0x90, 50, 70])
    assert wait_until(lambda: [0x90, 50, 70] in [m for _, m in keys.messages()], 2)
    process.terminate()
    assert wait_until(lambda: [0x80, 50, 0] in [m for _, m in keys.messages()], 2), (
        keys.messages())
    assert keys.sounding() == {}


def test_the_pedal_holds_the_phrase_open_until_it_lifts(daemon, player):
    process = daemon("--max-answer-beats", "2", "--max-hold-beats", "16")
    keys = player()
    keys.keyboard.send_message([0xB0, 64, 127])
    keys.play(PHRASE, BEAT)
    time.sleep(4 * BEAT)  # the keys are up, the notes ring: no answer yet
    assert keys.note_ons() == [], process.output()
    keys.keyboard.send_message([0xB0, 64, 0])
    lifted = time.perf_counter()
    assert wait_until(lambda: keys.note_ons(), ANSWER_BOUND_SECONDS + 2), process.output()
    assert keys.note_ons()[0][0] - lifted >= BEAT - 0.05  # a beat of silence after the lift
