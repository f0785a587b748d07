"""MIDI ports: a small layer over python-rtmidi (ALSA, JACK, CoreMIDI, Windows MM).

The daemon sees two tiny interfaces, `MidiInput` and `MidiOutput`; `loopback.py` provides
in-process ones for the demo and the tests, so everything above this layer is the same code
whatever carries the bytes. Library errors become `OSError(...) from err` with a message that
names the port and the backend; a port that is not there lists the ports that are.

No Python runs on the MIDI system's realtime thread: an input port never gets an rtmidi
callback (a callback there waits for the GIL, and JACK then drops that cycle's MIDI). Its
messages wait in rtmidi's queue until the port's reader thread (`reader.py`) takes them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import rtmidi

from antiphon.daemon.midi.backends import api_of, helper_client_name
from antiphon.daemon.midi.reader import InputReader

log = logging.getLogger(__name__)

# Antiphon's clients and ports as other programs see them: JACK calls them "Antiphon In:in"
# and "Antiphon Out:out" (one client per direction: rtmidi opens each port in a client of
# its own, and two clients cannot share a name).
CLIENT_NAME = "Antiphon"  # every client of Antiphon's starts with this
VIRTUAL_IN_NAME = "Antiphon In"  # the input's client: a keyboard or DAW plays into it
VIRTUAL_OUT_NAME = "Antiphon Out"  # the output's client: a DAW or synth listens to it
IN_PORT_NAME = "in"
OUT_PORT_NAME = "out"

# A callback gets the perf_counter moment the message arrived and its bytes.
MessageCallback = Callable[[float, list[int]], None]

RTMIDI_QUEUE_SIZE = 4096  # messages rtmidi keeps for the reader (its default is 100)


class MidiInput(Protocol):
    name: str

    def set_receiver(self, callback: MessageCallback | None) -> None: ...

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


def list_ports(backend: str) -> PortListing:
    api = api_of(backend)
    try:
        midi_in = rtmidi.MidiIn(api, name=helper_client_name("lister"))
        midi_out = rtmidi.MidiOut(api, name=helper_client_name("lister"))
    except rtmidi.RtMidiError as err:
        raise OSError(f"cannot list {backend} MIDI ports: {err}") from err
    try:
        return PortListing(backend, midi_in.get_ports(), midi_out.get_ports())
    finally:
        midi_in.delete()
        midi_out.delete()


# -- choosing a port ------------------------------------------------------------------------
def match_port(ports: Sequence[str], wanted: str, exclude: Sequence[str] = ()) -> int | None:
    """Index of the port named `wanted`: an exact name first, else the first name containing
    it (case-insensitive); ports in `exclude` (Antiphon's own) never match. None: no port."""
    if wanted in ports and wanted not in exclude:
        return list(ports).index(wanted)
    needle = wanted.casefold()
    for index, port in enumerate(ports):
        if needle in port.casefold() and port not in exclude:
            return index
    return None


def find_port(ports: Sequence[str], wanted: str, kind: str, exclude: Sequence[str] = ()) -> int:
    """As `match_port`, but raises PortNotFoundError listing the ports there are, less
    those excluded (the daemon excludes its own: no place to send an answer to)."""
    index = match_port(ports, wanted, exclude)
    if index is not None:
        return index
    others = [port for port in ports if port not in exclude]
    listing = ", ".join(repr(port) for port in others) if others else "none"
    raise PortNotFoundError(f"no MIDI {kind} port matches {wanted!r}; available {kind}s: {listing}")


def is_own_port(name: str) -> bool:
    """A port of an Antiphon client (this daemon's, a probe's or a lister's)."""
    client = name.split(":", 1)[0] if ":" in name else name
    return client.startswith(CLIENT_NAME)


_ALSA_ADDRESS = re.compile(r"\s(\d+):(\d+)$")  # rtmidi's ALSA names end in "client:port"
ALSA_FIRST_USER_CLIENT = 128  # ALSA numbers kernel (hardware) clients below 128
ALSA_MIDI_THROUGH_CLIENT = 14


def is_hardware_port(name: str, backend: str) -> bool:
    """Best guess whether a port is a device rather than a program (rtmidi cannot say)."""
    if is_own_port(name):
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
def _open(midi: rtmidi.MidiIn | rtmidi.MidiOut, backend: str, port: str | None,
          virtual_name: str, kind: str, exclude_own: bool) -> tuple[str, str]:
    """Open `port` (a name or part of one) or a virtual port; returns (the port Antiphon
    talks to, Antiphon's own port) as the MIDI system names them. `exclude_own`: never
    take a port of Antiphon's (the daemon's ports; a test client's may)."""
    before = set(_facing_ports(backend, kind))
    try:
        if port is None:
            midi.open_virtual_port(virtual_name)
            own = _new_own_port(before, _facing_ports(backend, kind), virtual_name)
            return own, own
        ports = midi.get_ports()
        own = [name for name in ports if is_own_port(name)] if exclude_own else []
        index = find_port(ports, port, kind, exclude=own)
        midi.open_port(index, name=virtual_name)
        return ports[index], _new_own_port(before, _facing_ports(backend, kind), virtual_name)
    except rtmidi.RtMidiError as err:
        raise OSError(f"cannot open {backend} MIDI {kind} {port or virtual_name!r}: {err}") from err


def _facing_ports(backend: str, kind: str) -> list[str]:
    """The ports that face the other way: where Antiphon's own input port is listed (among
    the ports an output can send to), or its own output port (among those an input hears)."""
    lister_class = rtmidi.MidiOut if kind == "input" else rtmidi.MidiIn
    lister = lister_class(api_of(backend), name=helper_client_name("lister"))
    try:
        return lister.get_ports()
    finally:
        lister.delete()


def _new_own_port(before: set[str], after: list[str], port_name: str) -> str:
    """Antiphon's own port by the MIDI system's full name (a JACK client name gets a suffix
    when another client has it); the short name when the system does not list it."""
    new = [name for name in after if name not in before and port_name in name]
    return new[0] if len(new) == 1 else port_name


class RtMidiInput:
    """An input port read by a thread of its own (see the module docstring and reader.py).

    `name` is the port Antiphon listens to, `own_name` Antiphon's own port. With `probe`
    (JACK only: other systems may not pass a lone F7), a probe client is connected to
    `own_name` so the reader can end a stuck sysex and prove the path alive."""

    def __init__(self, backend: str, port: str | None, virtual_name: str = IN_PORT_NAME,
                 client_name: str = VIRTUAL_IN_NAME, probe: bool = False,
                 exclude_own: bool = False) -> None:
        try:
            self._midi_in = rtmidi.MidiIn(api_of(backend), name=client_name,
                                          queue_size_limit=RTMIDI_QUEUE_SIZE)
        except rtmidi.RtMidiError as err:
            raise OSError(f"cannot start a {backend} MIDI input client: {err}") from err
        self._callback: MessageCallback | None = None
        self._probe_out: rtmidi.MidiOut | None = None
        self.closed = False
        try:
            self.name, self.own_name = _open(self._midi_in, backend, port, virtual_name,
                                             "input", exclude_own)
        except OSError:
            self._midi_in.delete()
            raise
        # Sysex stays on: a sysex dropped whole would take the notes glued behind it along.
        self._midi_in.ignore_types(sysex=False, timing=False, active_sense=True)
        self.virtual = port is None
        if probe and backend == "jack":
            self._probe_out = _probe_client(backend, self.own_name)
        self.reader = InputReader(self.name, self._midi_in.get_message, self._dispatch,
                                  self._send_probe if self._probe_out is not None else None)
        self.reader.start()

    def _dispatch(self, arrived: float, message: list[int]) -> None:
        callback = self._callback
        if callback is not None:
            callback(arrived, message)

    def _send_probe(self) -> None:
        if self._probe_out is not None:
            self._probe_out.send_message([0xF7])

    @property
    def probed(self) -> bool:
        return self._probe_out is not None

    def set_receiver(self, callback: MessageCallback | None) -> None:
        self._callback = callback

    def close(self) -> None:
        """Idempotent: rtmidi crashes the process if an instance is deleted twice."""
        self._callback = None
        if self.closed:
            return
        self.closed = True
        if not self.reader.stop():
            # Deleting the rtmidi instance while the reader polls it would crash the process.
            log.error("input reader of %r did not stop; its port is left open", self.name)
            return
        if self._probe_out is not None:
            self._probe_out.delete()
        self._midi_in.close_port()
        self._midi_in.delete()


def _probe_client(backend: str, own_port: str) -> rtmidi.MidiOut | None:
    """An output connected to Antiphon's own input, for the reader's probes (None if that
    port cannot be found: the daemon then runs without, and says so in the log)."""
    probe = rtmidi.MidiOut(api_of(backend), name=helper_client_name("probe"))
    ports = probe.get_ports()
    if own_port not in ports:
        log.warning("cannot probe input %r: the MIDI system does not list it", own_port)
        probe.delete()
        return None
    probe.open_port(ports.index(own_port), name="probe")
    return probe


class RtMidiOutput:
    """An output port; `send` is locked, so the scheduler and a panic never interleave."""

    def __init__(self, backend: str, port: str | None, virtual_name: str = OUT_PORT_NAME,
                 client_name: str = VIRTUAL_OUT_NAME, exclude_own: bool = False) -> None:
        try:
            self._midi_out = rtmidi.MidiOut(api_of(backend), name=client_name)
        except rtmidi.RtMidiError as err:
            raise OSError(f"cannot start a {backend} MIDI output client: {err}") from err
        self._lock = threading.Lock()
        self.closed = False
        try:
            self.name, self.own_name = _open(self._midi_out, backend, port, virtual_name,
                                             "output", exclude_own)
        except OSError:
            self._midi_out.delete()
            raise
        self.virtual = port is None

    def sending_to(self, name: str) -> None:
        """The port this output reaches now, as the MIDI system names it (a JACK link the
        edge made from the virtual port)."""
        self.name = name

    def send(self, message: Sequence[int]) -> None:
        with self._lock:
            if self.closed:
                raise OSError(f"MIDI output {self.name!r} is closed")
            try:
                self._midi_out.send_message(message)
            except (rtmidi.RtMidiError, ValueError) as err:
                raise OSError(f"cannot send to MIDI output {self.name!r}: {err}") from err

    def close(self) -> None:
        """Idempotent: rtmidi crashes the process if an instance is deleted twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._midi_out.close_port()
            self._midi_out.delete()


def open_ports(backend: str, in_port: str | None, out_port: str | None,
               probe: bool = False) -> tuple[RtMidiInput, RtMidiOutput]:
    """An input and an output, opened now (no waiting, no reconnecting: the demo's and the
    benchmarks' clients; `antiphon run` keeps its ports with edge.MidiEdge)."""
    midi_in = RtMidiInput(backend, in_port, probe=probe)
    try:
        midi_out = RtMidiOutput(backend, out_port)
    except OSError:
        midi_in.close()
        raise
    return midi_in, midi_out


def own_ports(ports: list[str]) -> list[str]:
    """Antiphon's own ports among `ports`."""
    return [port for port in ports if is_own_port(port)]


def port_listing(ports: list[str]) -> str:
    """The other programs' ports, for a message that says what there is instead."""
    others = [repr(port) for port in ports if not is_own_port(port)]
    return ", ".join(others) or "none"
