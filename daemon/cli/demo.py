"""`antiphon demo`: the whole call and response without a keyboard.

A built-in two-bar phrase is played into a running daemon, the answer is recorded, both
go into a two-track .mid file, and a summary says what came back and when. Where the system
has a MIDI system (an ALSA sequencer, or a JACK server), the phrase and the answer travel
through real ports: the demo makes a "keyboard" and a "recorder" client and the daemon
connects to them by name, as it would to a real keyboard and synth. Elsewhere, in-process
loopback ports carry them; the interaction loop and the scheduler are the same either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from antiphon.daemon.cli.demo_report import DemoResult, pair_notes, write_midi_file
from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi.backends import resolve_backend
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.midi.ports import (
    MidiInput,
    MidiOutput,
    RtMidiInput,
    RtMidiOutput,
    open_ports,
)
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction import next_grid_point
from antiphon.daemon.play.loop_parts import AnswerSession
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.daemon.service.daemon import Daemon, settle_for_realtime
from antiphon.engine.events import NOTE_OFF_STATUS, NOTE_ON_STATUS

log = logging.getLogger(__name__)

TRANSPORTS = ("auto", "midi", "loopback")
DEMO_KEYBOARD_NAME = "Antiphon Demo Keyboard"
DEMO_RECORDER_NAME = "Antiphon Demo Recorder"
LEAD_IN_BEATS = 1.0  # time for the ports to connect before the first note
WAIT_MARGIN_BEATS = 2.0  # beyond the longest possible answer, before giving up
DELIVERY_SECONDS = 0.1  # let the last messages through a MIDI server before closing
STOP_POLL_SECONDS = 0.05  # how soon a stop signal ends the demo

# The call: (start beat, length in beats, pitch, velocity). Two bars of 4/4 in C major: an
# arpeggio up to the octave that turns back (B, G, A), a stepwise figure below it (F E D E),
# and a long G, the dominant, left open for Antiphon to resolve. Notes are slightly detached
# and accented on the beat, as a player would play them.
DEMO_CALL = (
    (0.0, 0.45, 60, 92), (0.5, 0.45, 64, 78), (1.0, 0.45, 67, 84), (1.5, 0.45, 72, 96),
    (2.0, 0.9, 71, 88), (3.0, 0.45, 67, 74), (3.5, 0.45, 69, 80),
    (4.0, 0.7, 65, 90), (4.75, 0.2, 64, 70), (5.0, 0.45, 62, 82), (5.5, 0.45, 64, 76),
    (6.0, 1.75, 67, 94),
)


class RecordingOutput:
    """An output that remembers what it sent, when (the demo's record of the call)."""

    def __init__(self, port: MidiOutput, recorder: MessageRecorder) -> None:
        self.name = port.name
        self._port = port
        self._recorder = recorder

    def send(self, message: Sequence[int]) -> None:
        self._port.send(message)
        self._recorder(time.perf_counter(), list(message))

    def close(self) -> None:
        self._port.close()


def choose_transport(requested: str, backend: str) -> str:
    """"loopback", or the MIDI backend to use: "midi" insists, "auto" falls back."""
    if requested not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {requested!r}")
    if requested == "loopback":
        return "loopback"
    try:
        return resolve_backend(backend)
    except OSError as err:
        if requested == "midi":
            raise
        log.info("no MIDI system (%s): the demo runs over in-process loopback ports", err)
        return "loopback"


def _open_transport(
    transport: str,
) -> tuple[MidiOutput, MidiInput, MidiInput, MidiOutput, str]:
    """(player's output, daemon's input, recorder's input, daemon's output, description)."""
    if transport == "loopback":
        player_out, daemon_in = loopback_pair("Antiphon In")
        daemon_out, recorder_in = loopback_pair("Antiphon Out")
        return player_out, daemon_in, recorder_in, daemon_out, "in-process loopback ports"
    player_out = RtMidiOutput(transport, None, DEMO_KEYBOARD_NAME, DEMO_KEYBOARD_NAME)
    try:
        recorder_in = RtMidiInput(transport, None, DEMO_RECORDER_NAME, DEMO_RECORDER_NAME)
    except OSError:
        player_out.close()
        raise
    try:
        daemon_in, daemon_out = open_ports(transport, DEMO_KEYBOARD_NAME, DEMO_RECORDER_NAME)
    except OSError:
        player_out.close()
        recorder_in.close()
        raise
    return player_out, daemon_in, recorder_in, daemon_out, f"{transport} MIDI ports"


def run_demo(
    config: DaemonConfig, session: AnswerSession, transport: str, midi_file: Path,
    stop: threading.Event | None = None,
) -> DemoResult:
    """Play DEMO_CALL into a daemon over `transport` (from choose_transport), record the
    answer and write both to `midi_file`. `stop` set (a stop signal) ends it early, its
    notes released as at the end."""
    player_out, daemon_in, recorder_in, daemon_out, description = _open_transport(transport)
    call_recorder, answer_recorder = MessageRecorder(), MessageRecorder()
    recorder_in.set_receiver(answer_recorder)
    clock = Clock(config.bpm)
    daemon = Daemon(config, session, daemon_in, daemon_out, clock)
    player = OutputScheduler(RecordingOutput(player_out, call_recorder), clock)
    try:
        daemon.start()
        player.start()
        settle_for_realtime()
        call_start = next_grid_point(clock.now_beats() + LEAD_IN_BEATS, config.grid_beats)
        for start, length, pitch, velocity in DEMO_CALL:
            player.schedule(call_start + start, [NOTE_ON_STATUS, pitch, velocity])
            player.schedule(call_start + start + length, [NOTE_OFF_STATUS, pitch, 0])
        call_end = call_start + max(start + length for start, length, *_ in DEMO_CALL)
        give_up = call_end + config.silence_beats + config.grid_beats
        give_up += config.max_answer_beats + WAIT_MARGIN_BEATS
        timeout = clock.seconds_at(give_up) - clock.now_seconds()
        deadline = time.monotonic() + timeout
        while not daemon.loop.answer_finished.wait(STOP_POLL_SECONDS):
            if stop is not None and stop.is_set():
                break
            if time.monotonic() > deadline:
                log.warning("no answer finished within %.1f s", timeout)
                break
    finally:
        player.stop()
        daemon.stop()
        time.sleep(DELIVERY_SECONDS if transport != "loopback" else 0.0)
        for port in (player_out, daemon_in, daemon_out, recorder_in):
            port.close()
    call, _ = _to_notes(call_recorder.messages(), clock, call_start)
    answer, unmatched = _to_notes(answer_recorder.messages(), clock, call_start)
    write_midi_file(midi_file, call, answer, config.bpm, config.channel - 1)
    stats = daemon.loop.stats
    return DemoResult(
        transport=description,
        bpm=config.bpm,
        call=call,
        answer=answer,
        midi_file=midi_file,
        generation_ms=[seconds * 1e3 for seconds in stats.generation_seconds],
        late_answers=stats.late_answers,
        unmatched_note_ons=unmatched,
    )


def _to_notes(messages: list[tuple[float, list[int]]], clock: Clock, origin_beats: float):
    return pair_notes([(clock.beats_at(arrived) - origin_beats, message)
                       for arrived, message in messages])
