"""`antiphon` end to end over a real JACK server, with the shipped model.

A separate JACK client in this process plays a phrase into "Antiphon In" and records
"Antiphon Out" with timestamps.
"""

import logging
import time

import pytest
import rtmidi
from e2e_support import (
    ANSWER_BOUND_SECONDS,
    BEAT,
    PHRASE,
    SILENCE_BEATS,
    JackPlayer,
    antiphon_command,
    backend_args,
    client_name,
    wait_until,
)

pytestmark = pytest.mark.jack
log = logging.getLogger(__name__)



def test_answer_arrives_in_time_and_every_note_ends(daemon, report_measurement):
    process = daemon("--max-answer-beats", "4")
    player = JackPlayer()
    try:
        phrase_end = player.play(PHRASE, BEAT)
        assert wait_until(lambda: player.note_ons(), timeout=ANSWER_BOUND_SECONDS + 2), (
            f"no answer; antiphon said:\n{process.output()}")
        first_arrival, _ = player.note_ons()[0]
        latency = first_arrival - phrase_end
        log.info("answer latency: %.1f ms after the phrase's last release", latency * 1e3)
        report_measurement(
            "answer latency (JACK, 120 BPM, silence 1 beat)",
            f"{latency * 1e3:.0f} ms from the phrase's last release to the first answer note "
            f"(silence alone is {SILENCE_BEATS * BEAT * 1e3:.0f} ms; the rest is the wait "
            "for the next beat, any opening rest the model plays, and JACK's period)",
        )
        assert SILENCE_BEATS * BEAT - 0.05 <= latency <= ANSWER_BOUND_SECONDS
        # Let the answer (at most 4 beats) play out: it must end every note it struck.
        time.sleep(4 * BEAT)
        assert player.released(process, 0.5), f"notes left sounding: {player.sounding()}"
        assert len(player.note_ons()) >= 1
    finally:
        code = process.terminate()
        player.close()
    assert code == 0, process.output()
    answer = process.wait_for(r"answer: .*", timeout=1).group(0)
    sent = process.wait_for(r"timing error mean .*? late", timeout=1).group(0)
    log.info("daemon: %s / %s", answer, sent)
    report_measurement("daemon's own account", f"{answer}; scheduler {sent}")


def test_barge_in_and_sigterm_release_every_note(daemon):
    process = daemon("--min-answer-beats", "16", "--max-answer-beats", "16")
    player = JackPlayer()
    try:
        player.play(PHRASE, BEAT)
        assert wait_until(lambda: player.sounding(), timeout=ANSWER_BOUND_SECONDS + 4), (
            f"no answer note sounding; antiphon said:\n{process.output()}")
        # Barge in: Antiphon must let go at once and listen.
        player.keyboard.send_message([0x90, 72, 100])
        barge_in = time.perf_counter()
        assert player.released(process, 1.0)
        log.info("barge-in released the answer in %.1f ms", (time.perf_counter() - barge_in) * 1e3)
        process.wait_for(r"barge-in", timeout=2)
        count = len(player.note_ons())
        time.sleep(0.5)  # less than the silence: the old answer must not go on
        assert len(player.note_ons()) == count
        player.keyboard.send_message([0x80, 72, 0])
        # A new answer (16 beats long) comes; stop the daemon while it sounds.
        assert wait_until(lambda: player.sounding(), timeout=ANSWER_BOUND_SECONDS + 4), (
            f"no second answer; antiphon said:\n{process.output()}")
        code = process.terminate()
        # the last note-offs cross JACK
        assert player.released(process, 0.3), f"notes left sounding: {player.sounding()}"
    finally:
        player.close()
    assert code == 0, process.output()
    assert "SIGTERM received" in process.output()


def test_ports_lists_the_virtual_ports_of_a_client(jack_server):
    import subprocess

    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="e2e lister")
    midi_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="e2e lister")
    midi_in.open_virtual_port("probe-in")
    midi_out.open_virtual_port("probe-out")
    try:
        result = subprocess.run(
            antiphon_command("ports", *backend_args()), env={**jack_server.env, "COLUMNS": "200"},
            capture_output=True, text=True, timeout=60,
        )
    finally:
        midi_in.delete()
        midi_out.delete()
    assert result.returncode == 0, result.stderr
    inputs, _, outputs = result.stdout.partition("Outputs")
    assert "probe-out" in inputs  # another program's output is something Antiphon hears
    assert "probe-in" in outputs
    assert "jack" in result.stdout


def test_a_keyboard_plugged_in_after_the_start_is_waited_for(daemon):
    process = daemon("--in", "e2e keyboard", "--max-answer-beats", "2")
    process.wait_for(r"waiting for input port 'e2e keyboard'", timeout=5)
    time.sleep(1.0)  # the daemon keeps waiting, and says so once
    assert process.output().count("waiting for input port 'e2e keyboard'") == 1
    player = JackPlayer(in_port=None)  # the keyboard appears: Antiphon connects to it
    try:
        process.wait_for(f"listening to '{client_name('e2e keyboard')}:keys'", timeout=3)
        player.play(PHRASE, BEAT)
        assert wait_until(lambda: player.note_ons(), timeout=ANSWER_BOUND_SECONDS + 2), (
            f"no answer; antiphon said:\n{process.output()}")
    finally:
        player.close()


def test_real_ports_close_twice_without_crashing(jack_server):
    """rtmidi crashes the process when an instance is deleted twice; close() must not."""
    import subprocess
    import sys

    script = (
        "from antiphon.daemon.midi.ports import open_ports\n"
        "midi_in, midi_out = open_ports('jack', None, None)\n"
        "midi_out.send([0x90, 60, 90]); midi_out.send([0x80, 60, 0])\n"
        "for port in (midi_in, midi_out, midi_in, midi_out): port.close()\n"
        "try:\n    midi_out.send([0x90, 60, 90])\nexcept OSError as err:\n    print(err)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=jack_server.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "is closed" in result.stdout


def test_private_jack_server_for_benchmarks():
    """The benchmarks' own JACK server: reachable inside the block, gone after it."""
    import os
    import shutil

    from antiphon.daemon.midi.backends import jack_server_running
    from antiphon.daemon.midi.jack_server import private_jack_server

    if shutil.which("jackd") is None:
        pytest.skip("jackd not found: `apt-get install jackd2`")
    outside = os.environ.get("JACK_DEFAULT_SERVER")
    with private_jack_server("antiphon-check") as env:
        assert env["JACK_DEFAULT_SERVER"].startswith("antiphon-check-")
        assert jack_server_running()
    assert os.environ.get("JACK_DEFAULT_SERVER") == outside
