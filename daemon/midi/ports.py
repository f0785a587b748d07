"""MIDI ports: a small layer over python-rtmidi (ALSA, JACK, CoreMIDI, Windows MM).

The daemon sees two tiny interfaces, `MidiInput` and `MidiOutput`; `loopback.py` provides
in-process ones for the demo and the tests, so everything above this layer is the same code
whatever carries the bytes. Library errors become `OSError(...) from err` with a message that
names the port and the backend; a port that is not there lists the ports that are.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import rtmidi

from antiphon.daemon.midi.backends import BACKEND_NAMES

log = logging.getLogger(__name__)

CLIENT_NAME = "Antiphon"  # the MIDI client name others see (JACK / ALSA client)
VIRTUAL_IN_NAME = "Antiphon In"  # the port a keyboard or DAW plays into
VIRTUAL_OUT_NAME = "Antiphon Out"  # the port a DAW or synth listens to
ALSA_SEQUENCER_DEVICE = "/dev/snd/seq"

# A callback gets the perf_counter moment the message arrived and its bytes.
MessageCallback = Callable[[float, list[int]], None]

_API_BY_BACKEND = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
_BACKEND_BY_API = {api: name for name, api in _API_BY_BACKEND.items()}


class MidiInput(Protocol):
    name: str

    def set_callback(self, callback: MessageCallback | None) -> None: ...

    def close(self) -> None: ...


class MidiOutput(Protocol):
    name: str

    def send(self, message: Sequence[int]) -> None: ...

    def close(self) -> None: ...


class PortNotFoundError(OSError):
    """No port matches the name asked for; the message lists the ports there are."""


@dataclass(frozen=True)
class PortListing:
    backend: str  # "alsa", "jack", ...
    inputs: list[str]  # ports Antiphon can listen to (keyboards, other programs' outputs)
    outputs: list[str]  # ports Antiphon can play into (synths, DAWs)


# -- backends -------------------------------------------------------------------------------
def compiled_backends() -> list[str]:
    """The backends this python-rtmidi build speaks."""
    return [_BACKEND_BY_API[api] for api in rtmidi.get_compiled_api() if api in _BACKEND_BY_API]


def jack_server_running() -> bool:
    """True when a JACK server accepts clients (the one JACK_DEFAULT_SERVER names)."""
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        return False
    try:
        with _quiet_stderr():
            probe = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"{CLIENT_NAME} probe")
    except rtmidi.SystemError:
        return False
    probe.delete()
    return True


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: libjack prints several lines when no server runs, and
    here that is an answer, not an error."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def resolve_backend(name: str) -> str:
    """The concrete backend for `name`; "auto" picks the one this system has.

    On Linux, ALSA is the default; when the ALSA sequencer is missing (containers, some
    audio setups) but a JACK server runs, JACK is used.
    """
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_NAMES)}, got {name!r}")
    available = compiled_backends()
    if name != "auto":
        if name not in available:
            raise OSError(
                f"MIDI backend {name!r} is not available in this python-rtmidi build "
                f"(it has: {', '.join(available) or 'none'})"
            )
        return name
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform == "win32":
        return "winmm"
    if os.path.exists(ALSA_SEQUENCER_DEVICE) and "alsa" in available:
        return "alsa"
    if jack_server_running():
        log.info("%s is missing and a JACK server runs: using JACK", ALSA_SEQUENCER_DEVICE)
        return "jack"
    raise OSError(
        f"no MIDI system found: {ALSA_SEQUENCER_DEVICE} is missing (load the snd-seq kernel "
        "module) and no JACK server runs (start one, e.g. `jackd -d dummy`)"
    )


def _api(backend: str) -> int:
    return _API_BY_BACKEND[backend]


def list_ports(backend: str) -> PortListing:
    api = _api(backend)
    try:
        midi_in = rtmidi.MidiIn(api, name=f"{CLIENT_NAME} lister")
        midi_out = rtmidi.MidiOut(api, name=f"{CLIENT_NAME} lister")
    except rtmidi.RtMidiError as err:
        raise OSError(f"cannot list {backend} MIDI ports: {err}") from err
    try:
        return PortListing(backend, midi_in.get_ports(), midi_out.get_ports())
    finally:
        midi_in.delete()
        midi_out.delete()


# -- choosing a port ------------------------------------------------------------------------
def find_port(ports: Sequence[str], wanted: str, kind: str) -> int:
    """Index of the port named `wanted`: an exact name first, else the first name containing
    it (case-insensitive). Raises PortNotFoundError listing the ports there are."""
    if wanted in ports:
        return list(ports).index(wanted)
    needle = wanted.casefold()
    for index, port in enumerate(ports):
        if needle in port.casefold():
            return index
    listing = ", ".join(repr(port) for port in ports) if ports else "none"
    raise PortNotFoundError(f"no MIDI {kind} port matches {wanted!r}; available {kind}s: {listing}")


_ALSA_ADDRESS = re.compile(r"\s(\d+):(\d+)$")  # rtmidi's ALSA names end in "client:port"
ALSA_FIRST_USER_CLIENT = 128  # ALSA numbers kernel (hardware) clients below 128
ALSA_MIDI_THROUGH_CLIENT = 14


def is_hardware_port(name: str, backend: str) -> bool:
    """Best guess whether a port is a device rather than a program (rtmidi cannot say)."""
    if name.startswith(CLIENT_NAME):
        return False
    if backend == "alsa":
        match = _ALSA_ADDRESS.search(name)
        if match is None:
            return False
        client = int(match.group(1))
        return 0 < client < ALSA_FIRST_USER_CLIENT and client != ALSA_MIDI_THROUGH_CLIENT
    if backend == "jack":
        # "system:" ports are the driver's; a2jmidid bridges ALSA hardware as "a2j:".
        return name.startswith(("system:", "a2j:"))
    return "through" not in name.casefold()  # CoreMIDI and Windows list devices


def default_input_port(ports: Sequence[str], backend: str) -> int | None:
    """Index of the first hardware input, or None (then a virtual port is opened)."""
    for index, port in enumerate(ports):
        if is_hardware_port(port, backend):
            return index
    return None


# -- rtmidi ports ---------------------------------------------------------------------------
class RtMidiInput:
    """An input port; the callback runs on rtmidi's thread, so it must only enqueue."""

    def __init__(
        self,
        backend: str,
        port: str | None,
        virtual_name: str = VIRTUAL_IN_NAME,
        client_name: str = CLIENT_NAME,
    ) -> None:
        try:
            self._midi_in = rtmidi.MidiIn(_api(backend), name=client_name)
        except rtmidi.RtMidiError as err:
            raise OSError(f"cannot start a {backend} MIDI input client: {err}") from err
        self._callback: MessageCallback | None = None
        try:
            if port is None:
                self._midi_in.open_virtual_port(virtual_name)
                self.name = virtual_name
            else:
                ports = self._midi_in.get_ports()
                index = find_port(ports, port, "input")
                self._midi_in.open_port(index, name=f"{client_name} input")
                self.name = ports[index]
        except rtmidi.RtMidiError as err:
            self._midi_in.delete()
            raise OSError(
                f"cannot open {backend} MIDI input {port or virtual_name!r}: {err}"
            ) from err
        except PortNotFoundError:
            self._midi_in.delete()
            raise
        # MIDI clock and active sensing would wake the callback ~50 times a second for
        # nothing until clock following exists; sysex is never played.
        self._midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
        self._midi_in.set_callback(self._on_message)
        self.virtual = port is None
        self.closed = False

    def _on_message(self, event: tuple[list[int], float], _data: object) -> None:
        arrived = time.perf_counter()  # first: the timestamp is the point of this callback
        callback = self._callback
        if callback is not None:
            callback(arrived, event[0])

    def set_callback(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def close(self) -> None:
        """Idempotent: rtmidi crashes the process if an instance is deleted twice."""
        self._callback = None
        if self.closed:
            return
        self.closed = True
        self._midi_in.cancel_callback()
        self._midi_in.close_port()
        self._midi_in.delete()


class RtMidiOutput:
    """An output port; `send` is locked, so the scheduler and a panic never interleave."""

    def __init__(
        self,
        backend: str,
        port: str | None,
        virtual_name: str = VIRTUAL_OUT_NAME,
        client_name: str = CLIENT_NAME,
    ) -> None:
        try:
            self._midi_out = rtmidi.MidiOut(_api(backend), name=client_name)
        except rtmidi.RtMidiError as err:
            raise OSError(f"cannot start a {backend} MIDI output client: {err}") from err
        self._lock = threading.Lock()
        try:
            if port is None:
                self._midi_out.open_virtual_port(virtual_name)
                self.name = virtual_name
            else:
                ports = self._midi_out.get_ports()
                index = find_port(ports, port, "output")
                self._midi_out.open_port(index, name=f"{client_name} output")
                self.name = ports[index]
        except rtmidi.RtMidiError as err:
            self._midi_out.delete()
            raise OSError(
                f"cannot open {backend} MIDI output {port or virtual_name!r}: {err}"
            ) from err
        except PortNotFoundError:
            self._midi_out.delete()
            raise
        self.virtual = port is None
        self.closed = False

    def send(self, message: Sequence[int]) -> None:
        with self._lock:
            if self.closed:
                raise OSError(f"MIDI output {self.name!r} is closed")
            try:
                self._midi_out.send_message(message)
            except rtmidi.RtMidiError as err:
                raise OSError(f"cannot send to MIDI output {self.name!r}: {err}") from err

    def close(self) -> None:
        """Idempotent: rtmidi crashes the process if an instance is deleted twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._midi_out.close_port()
            self._midi_out.delete()


def open_ports(
    backend: str,
    in_port: str | None,
    out_port: str | None,
    virtual_in_name: str = VIRTUAL_IN_NAME,
    virtual_out_name: str = VIRTUAL_OUT_NAME,
) -> tuple[RtMidiInput, RtMidiOutput]:
    """Open the daemon's ports. No `in_port`: the first hardware input, else a virtual port;
    no `out_port`: a virtual port a DAW or synth connects to."""
    if in_port is None:
        listing = list_ports(backend)
        index = default_input_port(listing.inputs, backend)
        if index is not None:
            in_port = listing.inputs[index]
            log.info("no --in given: listening to the first hardware input, %r", in_port)
    midi_in = RtMidiInput(backend, in_port, virtual_name=virtual_in_name)
    try:
        midi_out = RtMidiOutput(backend, out_port, virtual_name=virtual_out_name)
    except OSError:
        midi_in.close()
        raise
    return midi_in, midi_out
