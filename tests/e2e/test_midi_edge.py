"""The MIDI edge over a real JACK server: what a stage or a studio throws at `antiphon run`
(poison messages, floods, ports and the MIDI system coming and going) never leaves it
deaf, stuck or silent."""

from __future__ import annotations

import random
import threading
import time

import pytest
import rtmidi
from e2e_support import (
    ANSWER_BOUND_SECONDS,
    BEAT,
    GRID_TOLERANCE_SECONDS,
    PHRASE,
    JackPlayer,
    answers_finished,
    call_and_hear_answer,
    frame_grid_misses,
    wait_until,
)

from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

pytestmark = pytest.mark.jack

J = rtmidi.API_UNIX_JACK
LONG_SYSEX = [0xF0, *([0x11] * 3000), 0xF7]
# Each: what is sent before a normal phrase, and must not change what the daemon hears.
POISONS = {
    "held drum note (channel 10)": [[0x99, 36, 100]],
    "unterminated sysex": [[0xF0, 0x7E, 0x7F]],
    "sysex ended by a note": [[0xF0, 0x43, 0x10, 0x4C], [0x90, 40, 0]],
    "real-time bytes inside a sysex": [[0xF0, 0x01, 0xF8, 0x02], [0xFA, 0x03, 0xF7]],
    "a long sysex": [LONG_SYSEX],
    "note-offs without note-ons": [[0x80, 50, 0], [0x90, 51, 0], [0x85, 52, 64]],
    "stray data bytes": [[0x40, 0x41], [0x42]],
    "a controller and program change storm": [[0xB0, 1, v] for v in range(128)] + [[0xC0, 5]],
}


def answered(player: JackPlayer, before: int, process) -> None:
    assert wait_until(lambda: len(player.note_ons()) > before,
                      timeout=ANSWER_BOUND_SECONDS + 2), (
        f"no answer; antiphon said:\n{process.output()[-3000:]}")


def answer_over(player: JackPlayer, process) -> None:
    """Wait for the answer to end: every note released, nothing new for a beat. A release
    the recorder never heard is the daemon's trace's to judge (`JackPlayer.released`)."""
    def quiet() -> bool:
        messages = player.messages()
        return not player.sounding() and (not messages
                                          or time.perf_counter() - messages[-1][0] > BEAT)
    if not wait_until(quiet, timeout=10):
        assert player.released(process, 0), f"answer did not end: {player.sounding()}"


def play_running_status(player: JackPlayer, seconds_per_beat: float) -> float:
    """The phrase with running status: one status byte, then data bytes only."""
    player.keyboard.send_message([0x90, PHRASE[0][0], 96])
    for index, (pitch, beats) in enumerate(PHRASE):
        if index:
            player.keyboard.send_message([pitch, 96])
        time.sleep(beats * seconds_per_beat * 0.9)
        player.keyboard.send_message([pitch, 0])  # note-on at velocity 0 is a release
        time.sleep(beats * seconds_per_beat * 0.1)
    return time.perf_counter()


# Hearing is tested here, not time: twice the tempo halves the wait. A release the MIDI
# system drops (JACK without realtime scheduling may, under load) would hold the call open
# for --max-hold-beats; two beats keep that short, and the daemon's own counters, not a
# quiet moment at the recorder, say when each answer is over.
POISON_BPM = 240


def test_poison_never_deafens_and_running_status_is_heard(daemon):
    process = daemon("--max-answer-beats", "2", "--max-hold-beats", "2",
                     "--bpm", str(POISON_BPM))
    beat = 60 / POISON_BPM
    player = JackPlayer()
    try:
        for name, messages in POISONS.items():
            for message in messages:
                player.keyboard.send_message(message)
            time.sleep(0.05)
            phrases = status_counters(process)["phrases"]
            call_and_hear_answer(player, process, PHRASE[:3], beat)
            assert status_counters(process)["phrases"] == phrases + 1, (
                f"after {name}: {status_counters(process)}\n{process.output()[-3000:]}")
            assert process.process.poll() is None, f"died after {name}:\n{process.output()}"
        heard_before = len(player.note_ons())
        finished_before = answers_finished(process)
        play_running_status(player, beat)
        answered(player, heard_before, process)
        assert wait_until(lambda: answers_finished(process) > finished_before, 10), (
            process.output()[-3000:])
    finally:
        player.close()
    assert process.terminate() == 0, process.output()
    assert "Traceback" not in process.output()


def status_counters(process) -> dict:
    return ask(process.socket, {"command": "status"})["status"]["counters"]


def flood(keyboard: rtmidi.MidiOut, seconds: float, per_second: int) -> int:
    """Note-on / note-off pairs at `per_second` messages a second on channel 1."""
    rng = random.Random(3)
    sent = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        while sent < elapsed * per_second:
            pitch = rng.randrange(36, 96)
            keyboard.send_message([0x90, pitch, 100])
            keyboard.send_message([0x80, pitch, 0])
            sent += 2
        time.sleep(0.001)
    return sent


def resident_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.solo  # 30,000 messages in 3 s: a load no other timed test should share
def test_a_flood_is_shed_and_the_next_call_is_answered(daemon, report_measurement):
    process = daemon("--max-answer-beats", "2")
    player = JackPlayer()
    try:
        rss_before = resident_mb(process.process.pid)
        sent = flood(player.keyboard, seconds=3.0, per_second=10_000)
        flood_end = time.perf_counter()
        process.wait_for(r"input flood: shed \d+ messages", timeout=5)
        # Once the flood stops, a call is heard and answered within seconds, not minutes.
        time.sleep(BEAT)
        before = len(player.note_ons())
        player.play(PHRASE[:3], BEAT)
        assert wait_until(lambda: len(player.note_ons()) > before, timeout=10), (
            f"no answer after the flood; antiphon said:\n{process.output()[-3000:]}")
        recovered = player.note_ons()[-1][0] - flood_end
        answer_over(player, process)
        rss_after = resident_mb(process.process.pid)
        report_measurement("flood over JACK", f"{sent} messages in 3 s; next call answered "
                           f"{recovered:.2f} s after the flood; RSS {rss_before:.1f} -> "
                           f"{rss_after:.1f} MB")
        assert rss_after - rss_before < 25, (rss_before, rss_after)
        # A stop in the middle of a flood is a clean stop.
        flooding = threading.Thread(target=flood, args=(player.keyboard, 3.0, 10_000))
        flooding.start()
        time.sleep(1.0)
        code = process.terminate(timeout=10)
        flooding.join()
    finally:
        player.close()
    assert code == 0, process.output()[-3000:]


def test_a_stuck_key_no_longer_holds_the_call_open(daemon):
    process = daemon("--max-hold-beats", "2", "--max-answer-beats", "2")
    player = JackPlayer()
    try:
        player.keyboard.send_message([0x90, 48, 90])  # its note-off never comes
        player.play(PHRASE[:2], BEAT)
        answered(player, 0, process)
    finally:
        player.close()


def test_only_the_listened_channels_are_heard(daemon):
    process = daemon("--listen-channels", "2", "--max-answer-beats", "2")
    player = JackPlayer()
    try:
        player.play(PHRASE[:3], BEAT)  # channel 1: not listened to
        time.sleep(ANSWER_BOUND_SECONDS)
        assert player.note_ons() == [], "answered a channel it does not listen to"
        for pitch, beats in PHRASE[:3]:  # the same phrase on channel 2
            player.keyboard.send_message([0x91, pitch, 96])
            time.sleep(beats * BEAT * 0.9)
            player.keyboard.send_message([0x81, pitch, 0])
            time.sleep(beats * BEAT * 0.1)
        answered(player, 0, process)
    finally:
        player.close()


@pytest.mark.parametrize(("model", "frames_per_beat"), [("nade-jsb", 1), ("nade-nottingham", 2)])
def test_a_piano_roll_model_answers_on_the_calls_beat_grid(daemon, model, frames_per_beat):
    """Over JACK, whatever the phase of the daemon's own clock: every answer note-on is due
    a whole number of frames after the call's first note, by the daemon's timing trace
    (what it received and sent), and the recorder hears each answer."""
    from antiphon.exported_models import model_path

    process = daemon("--model", str(model_path(model)), "--max-answer-beats", "4")
    player = JackPlayer()
    try:
        for offset in (0.0, 0.31):  # two calls at different phases of the daemon's clock
            time.sleep(offset)
            before = len(player.note_ons())
            player.play([(60, 1.0), (64, 1.0), (67, 1.0), (72, 1.0)], BEAT)
            answered(player, before, process)
            answer_over(player, process)
    finally:
        player.close()
    process.terminate()
    misses = frame_grid_misses(TimingTrace.read(process.trace_path), 60,
                               BEAT / frames_per_beat)
    assert len(misses) == 2 and all(misses), misses
    assert max(max(call) for call in misses) < GRID_TOLERANCE_SECONDS, (
        f"{model}: answer notes due off the call's frame grid (s): {misses}")
