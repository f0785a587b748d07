"""Ports that outlive the port under them: what the daemon holds while the MIDI edge
(edge.py) opens, loses and reopens the real rtmidi ports behind its back.

`KeptInput` hands every message of whichever input is open to one callback, and remembers
the keys held down, so that when the keyboard goes away their releases are delivered (the
phrase then ends as if the player had let go). `KeptOutput` sends through whichever output is
open and tracks what it has sounding; when the port goes, those notes are owed, and the
first thing the port hears when it comes back is their note-offs. While no output is open,
note-ons are dropped (nothing can sound) and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from antiphon.daemon.midi.ports import MessageCallback, MidiOutput, RtMidiInput
from antiphon.daemon.midi.wire import (
    CONTROL_CHANGE,
    NOTE_OFF,
    NOTE_ON,
    SUSTAIN_PEDAL,
    is_note,
    panic_messages,
    sustain_state,
)

log = logging.getLogger(__name__)

PANIC_PACE_SECONDS = 0.003  # between channels of a panic: a MIDI system buffers so much


class KeptInput:
    """The daemon's input: `set_receiver` once; ports come and go under it."""

    def __init__(self, name: str) -> None:
        self.name = name  # the port listened to, as the MIDI system names it
        self.own_name: str | None = None  # the daemon's end of it, once a port was opened
        self.port: RtMidiInput | None = None
        self._callback: MessageCallback | None = None
        self._held: set[tuple[int, int]] = set()  # (status channel, pitch) held down
        self._pedals: set[int] = set()  # channels whose sustain pedal is down
        self._lock = threading.Lock()

    def set_receiver(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def attach(self, port: RtMidiInput) -> None:
        with self._lock:
            self.port = port
            self.name, self.own_name = port.name, port.own_name
        port.set_receiver(self._deliver)

    def detach(self) -> RtMidiInput | None:
        """Forget the open port (the caller closes it); the keys it held are released."""
        with self._lock:
            port, self.port = self.port, None
        if port is not None:
            port.set_receiver(None)
        self.release_held()
        return port

    def listening_to(self, name: str) -> None:
        """The port this input hears now, as the MIDI system names it (a JACK link the
        edge made to the kept port, or its own name while nothing is linked)."""
        with self._lock:
            self.name = name

    def holding(self) -> bool:
        """Whether a key or a sustain pedal is down on this input."""
        return bool(self._held or self._pedals)

    def release_held(self) -> None:
        """Deliver a note-off for every key held down, and lift every pedal held down (the
        keyboard went away)."""
        with self._lock:
            held, self._held = sorted(self._held), set()
            pedals, self._pedals = sorted(self._pedals), set()
        now = time.perf_counter()
        callback = self._callback
        releases = [[NOTE_OFF | channel, pitch, 0] for channel, pitch in held]
        releases += [[CONTROL_CHANGE | channel, SUSTAIN_PEDAL, 0] for channel in pedals]
        for release in releases:
            if callback is not None:
                callback(now, release)

    def _deliver(self, arrived: float, message: list[int]) -> None:
        if is_note(message):
            key = (message[0] & 0x0F, message[1])
            if message[0] & 0xF0 == NOTE_ON and message[2] > 0:
                self._held.add(key)
            else:
                self._held.discard(key)
        elif (pedal := sustain_state(message)) is not None:
            (self._pedals.add if pedal else self._pedals.discard)(message[0] & 0x0F)
        callback = self._callback
        if callback is not None:
            callback(arrived, message)

    def close(self) -> None:
        self._callback = None
        port = self.detach()
        if port is not None:
            port.close()


class KeptOutput:
    """The daemon's output: `send` never fails for want of a port (see the module
    docstring); `attach` / `detach` swap the port under it."""

    def __init__(self, name: str, panic_on_attach: bool = False) -> None:
        self.name = name
        self.own_name: str | None = None  # the daemon's end of it, once a port was opened
        self.port: MidiOutput | None = None
        self._lock = threading.Lock()
        self._sounding: set[tuple[int, int]] = set()  # (channel, pitch) sent and not released
        self._owed: set[tuple[int, int]] = set()  # sounded on a port that went away
        self.dropped_note_ons = 0  # note-ons that found no port
        self.send_errors = 0
        self.panic_on_attach = panic_on_attach  # silence whatever the first port sounds, once
        self.attachments = 0  # ports attached so far: a clock sender starts each one anew

    def attach(self, port: MidiOutput) -> None:
        """Take `port`; first release what a lost port left sounding (and a panic if asked)."""
        with self._lock:
            self.port = port
            self.attachments += 1
            self.name = port.name
            self.own_name = getattr(port, "own_name", port.name)
            owed = sorted(self._owed | self._sounding)
            self._owed = set(owed)
            self._sounding.clear()
            panic, self.panic_on_attach = self.panic_on_attach, False
            try:
                for key in owed:
                    port.send((NOTE_OFF | key[0], key[1], 0))
                    self._owed.discard(key)  # owed until a port has really taken it
            except OSError as err:
                log.error("could not release the notes of a cut answer: %s", err)
        if owed:
            log.warning("released %d notes of a cut answer on %r", len(owed), self.name)
        if panic:
            send_panic(self)

    def detach(self) -> MidiOutput | None:
        """Forget the open port (the caller closes it); what it sounded is owed."""
        with self._lock:
            port, self.port = self.port, None
            self._owed |= self._sounding
            self._sounding.clear()
        return port

    def send(self, message: Sequence[int]) -> None:
        with self._lock:
            key = (message[0] & 0x0F, message[1]) if is_note(message) else None
            note_on = key is not None and message[0] & 0xF0 == NOTE_ON and message[2] > 0
            if self.port is None:
                if note_on:
                    self.dropped_note_ons += 1
                return  # a release stays owed: the port that sounded it is gone
            try:
                self.port.send(message)
            except OSError as err:
                self.send_errors += 1
                log.debug("send to %r failed: %s", self.name, err)
                return
            if key is None:
                return
            if note_on:
                self._sounding.add(key)
            else:
                self._sounding.discard(key)
                self._owed.discard(key)

    @property
    def sounding(self) -> list[tuple[int, int]]:
        with self._lock:
            return sorted(self._sounding | self._owed)

    def close(self) -> None:
        port = self.detach()
        if port is not None:
            port.close()


def send_panic(output: MidiOutput, channels: Sequence[int] = range(16)) -> int:
    """Note-off for every note, All Sound Off and All Notes Off on each channel (0-based),
    paced so no MIDI system's buffer overflows; returns the messages sent."""
    sent = 0
    for channel in channels:
        for message in panic_messages(channel):
            output.send(message)
            sent += 1
        time.sleep(PANIC_PACE_SECONDS)
    return sent
