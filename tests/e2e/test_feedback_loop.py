"""A feedback loop slower than a cable, over JACK: a client that plays whatever leaves
Antiphon Out back into Antiphon In a fixed delay later (a DAW monitoring Antiphon's track
with its buffers). The daemon must answer the call once, not take its own answer for the
player (a barge-in, a new call, an answer to that, for ever), and say once in its log that
its notes come back, with the delay."""

from __future__ import annotations

import queue
import re
import threading
import time

import pytest
import rtmidi
from e2e_support import BEAT, JackPlayer, _index, client_name, wait_until

from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

SETTLE_SECONDS = 5.0  # after the answer: long enough for its echo to be answered, were it
                      # taken for a call (silence 1 beat + grid + an answer's first notes)


class DelayLoop:
    """Antiphon Out -> (delay) -> Antiphon In. The output is read by a polling thread
    (antiphon's own RtMidiInput, never an rtmidi callback); a thread of ours sends each
    message back when its time comes."""

    def __init__(self, delay: float) -> None:
        from antiphon.daemon.midi.ports import RtMidiInput

        self.delay = delay
        self.looped = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client_name("e2e daw"))
        self._out.open_port(_index(self._out.get_ports(), "Antiphon In"), name="monitor out")
        self._in = RtMidiInput("jack", "Antiphon Out", "monitor in", client_name("e2e daw in"))
        self._in.set_receiver(lambda arrived, message: self._queue.put((arrived, message)))
        self._thread = threading.Thread(target=self._send_back, daemon=True)
        self._thread.start()
        time.sleep(0.2)  # let JACK make the connections

    def _send_back(self) -> None:
        while (item := self._queue.get()) is not None:
            arrived, message = item
            wait = arrived + self.delay - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            self._out.send_message(message)
            self.looped += 1

    def close(self) -> None:
        self._in.close()
        self._queue.put(None)
        self._thread.join(5)
        self._out.close_port()
        self._out.delete()


def counters(process) -> dict:
    return ask(process.socket, {"command": "status"})["status"]["counters"]


def play_on_channel_2(keys: JackPlayer) -> None:
    """A short call on channel 2, so that anything on channel 1 (the answer's) that the
    daemon received came round the loop."""
    for pitch in (60, 64, 67):
        keys.keyboard.send_message([0x91, pitch, 100])
        time.sleep(0.45 * BEAT)
        keys.keyboard.send_message([0x81, pitch, 0])
        time.sleep(0.05 * BEAT)


@pytest.mark.parametrize("delay", [0.08, 0.4, 1.0])
def test_a_slow_feedback_loop_is_answered_once_and_said_once(daemon, tmp_path, delay):
    trace_path = tmp_path / "trace.jsonl"
    process = daemon("--min-answer-beats", "4", "--max-answer-beats", "4",
                     "--timing-trace", str(trace_path))
    keys = JackPlayer()
    loop = DelayLoop(delay)
    try:
        play_on_channel_2(keys)
        assert wait_until(lambda: counters(process)["answers"] >= 1, 15), process.output()
        before = counters(process)
        time.sleep(SETTLE_SECONDS + delay)
        after = counters(process)
    finally:
        loop.close()
        keys.close()
    assert process.terminate() == 0
    trace = TimingTrace.read(trace_path)
    echoes = [(message, kept) for _, message, kept in trace.receives if message[0] & 0x0F == 0]
    assert len(echoes) >= 2, ("the loop sent nothing back", loop.looped, process.output())
    # None of the answer's notes that came back was heard as the player's: nothing of
    # channel 1 reached the loop, so nothing barged in and no echo made a call.
    assert [message for message, kept in echoes if kept] == [], process.output()
    assert after["echoes"] >= 1
    # No call after the answer: the player's call (or its parts, should JACK have lost a
    # note of it under load) each answered at most once, and nothing since.
    assert after["phrases"] == before["phrases"] <= 2, (before, after, process.output())
    assert 1 <= after["answers"] <= after["phrases"], (after, process.output())
    said = [line for line in process.lines if "WARNING" in line and "feedback loop" in line]
    assert len(said) == 1, said
    heard = float(re.search(r"input (\d+) ms after", said[0]).group(1)) / 1e3
    assert heard == pytest.approx(delay, abs=0.04 + 0.1 * delay), said
