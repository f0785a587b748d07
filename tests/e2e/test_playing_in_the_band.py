"""Playing with Antiphon over the real JACK server as a keyboard player does: the sustain
pedal, MIDI thru, and a patching mistake that loops its output back into its input."""

from __future__ import annotations

import subprocess
import time

import pytest
from e2e_support import ANSWER_BOUND_SECONDS, BEAT, PHRASE, wait_until

pytestmark = pytest.mark.jack


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
        assert "feedback loop: Antiphon's own notes come back into its input" in process.output()
        assert keys.released(process, 0), keys.sounding()
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
    assert keys.released(process, 8), keys.sounding()
    # The shipped models were trained without the pedal: their answers never send it.
    assert not [m for _, m in keys.messages() if m[0] & 0xF0 == 0xB0 and m[1] == 64]


def _status(process) -> dict:
    from antiphon.daemon.control.socket_server import ask

    return ask(process.socket, {"command": "status"})["status"]


def test_a_program_change_swaps_the_model_and_no_note_hangs(daemon, player):
    # A call's note-off that JACK drops under load holds the call open for --max-hold-beats
    # (8 beats, 4 s, by default): longer than the wait for the first answer below.
    process = daemon("--program-models", "default, transformer, nade-jsb",
                     "--min-answer-beats", "8", "--max-answer-beats", "8",
                     "--max-hold-beats", "2")
    keys = player()
    keys.play(PHRASE, BEAT)
    assert wait_until(lambda: keys.note_ons(), ANSWER_BOUND_SECONDS + 2), process.output()
    keys.keyboard.send_message([0xC0, 1])  # program 2, mid-answer
    assert wait_until(lambda: _status(process)["model"]["name"] == "transformer", 20), (
        process.output())
    assert keys.released(process, 8 * BEAT + 2), keys.sounding()
    heard = len(keys.note_ons())
    keys.play(PHRASE, BEAT)
    assert wait_until(lambda: len(keys.note_ons()) > heard, ANSWER_BOUND_SECONDS + 2)
    assert keys.released(process, 8 * BEAT + 2), keys.sounding()
    keys.keyboard.send_message([0xC0, 9])  # no tenth model: nothing changes
    time.sleep(0.3)
    assert _status(process)["model"]["name"] == "transformer"


def test_the_panic_knob_silences_the_answer_and_the_panic_key_is_no_call(daemon, player):
    process = daemon("--panic-cc", "119", "--panic-note", "21",
                     "--min-answer-beats", "16", "--max-answer-beats", "16")
    keys = player()
    keys.play(PHRASE, BEAT)
    assert wait_until(lambda: keys.note_ons(), ANSWER_BOUND_SECONDS + 2), process.output()
    keys.keyboard.send_message([0xB0, 119, 127])
    assert wait_until(lambda: any(m[:2] == [0xB0, 123] for _, m in keys.messages()), 2)
    assert keys.released(process, 1), keys.sounding()
    phrases = _status(process)["counters"]["phrases"]
    keys.play([(21, 1.0)], BEAT)  # the panic key, struck and let go: no call to answer
    time.sleep(4 * BEAT)
    assert _status(process)["counters"]["phrases"] == phrases


def test_thru_sends_the_players_wheels_and_pedals_on_but_not_antiphons_knobs(daemon, player):
    """--thru with a knob map: the mod wheel, expression, the soft pedal, a pitch bend and
    aftertouch reach the synth as played; the map's knob sets its option and never does."""
    from antiphon.daemon.control.socket_server import ask

    process = daemon("--thru", "--cc-map", "temperature=21:0.5..1.5", "--panic-cc", "20")
    keys = player()
    heard = lambda: [m for _, m in keys.messages()]  # noqa: E731

    def passed(message: list[int], condition) -> bool:  # noqa: ANN001
        # Sent again while it is not heard (under load JACK may drop a message between
        # two clients), a second apart: never within the feedback guard's echo window.
        for _ in range(5):
            keys.keyboard.send_message(message)
            if wait_until(condition, 1):
                return True
        return False

    for message in ([0xB0, 1, 90], [0xB0, 11, 70], [0xB0, 67, 127], [0xB0, 66, 127],
                    [0xE0, 0, 80], [0xD0, 50], [0xA0, 60, 40]):
        assert passed(message, lambda m=message: m in heard()), (message, heard(),
                                                                 process.output())
    temperature = lambda: ask(process.socket, {"command": "status"})[  # noqa: E731
        "status"]["settings"]["temperature"]
    assert passed([0xB0, 21, 127], lambda: temperature() == 1.5), process.output()
    assert passed([0xB0, 1, 10], lambda: [0xB0, 1, 10] in heard())  # after the knob's move
    assert not [m for m in heard() if m[:2] == [0xB0, 21]], heard()
