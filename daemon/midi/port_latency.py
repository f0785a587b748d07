"""What delays a MIDI message on its way in and on its way out, and so how early an answer
must leave to be heard on the band's beat (`--output-latency-ms`, auto by default).

A message is late twice: a band's clock pulse reaches Antiphon after the band sent it, and
an answer's note reaches the synth (or the band's recorder) after Antiphon sent it. A DAW
compensates its own latency; an instrument that follows a DAW does too: each pulse is timed
back to when it was sent (`input_seconds` earlier than it arrived), and each message leaves
`output_seconds` before it is meant to be heard.

On JACK the server says what it knows, in frames at its sample rate:

- the port latencies: the capture latency of the input port the pulses come on (since they
  left a physical input), the playback latency of the output port (until the physical
  output plays them); both 0 between two clients' own ports;
- the period: rtmidi's JACK client neither stamps nor sends within a cycle. It stamps
  every message the cycle delivers with the time that cycle's process began, and a message
  sent from an ordinary thread waits in its queue until the next cycle writes it at that
  cycle's first frame. A pulse was sent, on average, half a period before its stamp: the
  input's delay is its capture latency and half a period. The answer waits for the next
  cycle the same way, but so does every message the band sends to whoever listens (the
  tick the answer is meant to fall on included): heard beside the band, that wait cancels,
  and the output's delay is its playback latency alone. (Sent half a period earlier still,
  a note falls a cycle before its tick about as often as on it: `antiphon bench clock`
  measured the median a period early.)

Elsewhere (named ports on ALSA, CoreMIDI, Windows; the loopback) the system tells nothing:
the output latency is the setting's, the input's 0. `OutputLatency` holds what is used now,
read by the scheduler's and the reader's threads without a lock (one frozen object, replaced
whole), and updated on the daemon's main thread (`look`), which asks JACK again at most every
`LOOK_SECONDS` (a port connected to a hardware port changes its latency).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from dataclasses import dataclass

from antiphon.daemon.midi.backends import helper_client_name

log = logging.getLogger(__name__)

LOOK_SECONDS = 2.0  # how often JACK is asked again (connections change the latencies)
RETRY_SECONDS = 5.0  # a JACK server that could not be asked is asked again after this
CAPTURE, PLAYBACK = 0, 1  # jack_latency_callback_mode_t: JackCaptureLatency, ...Playback


@dataclass(frozen=True)
class PortDelays:
    """How long a message takes in (`input_seconds`: from the sender to Antiphon's stamp) and
    out (`output_seconds`: from Antiphon's send to where it is heard), and where that was
    learned, in words for the status."""

    input_seconds: float = 0.0
    output_seconds: float = 0.0
    origin: str = "nothing known: no compensation"

    def state(self) -> dict:
        """As `antiphon status` shows it."""
        return {"output_ms": round(self.output_seconds * 1e3, 3),
                "input_ms": round(self.input_seconds * 1e3, 3), "from": self.origin}


def jack_delays(capture_frames: int, playback_frames: int, period_frames: int,
                sample_rate: int) -> PortDelays:
    """The delays JACK's figures imply (see the module docstring): the input's, its port's
    capture latency and half a period for rtmidi's stamp at the cycle's start; the
    output's, its port's playback latency."""
    rate = max(1, sample_rate)
    return PortDelays(
        input_seconds=capture_frames / rate + period_frames / 2 / rate,
        output_seconds=playback_frames / rate,
        origin=(f"JACK: period {period_frames} frames at {sample_rate} Hz, capture latency "
                f"{capture_frames}, playback latency {playback_frames} frames"))


def delays_with_setting(system: PortDelays, output_ms: float | None) -> PortDelays:
    """What the system says, the output's delay replaced by `--output-latency-ms` when set
    (the input's is the system's still: no setting names it)."""
    if output_ms is None:
        return system
    return PortDelays(system.input_seconds, output_ms / 1e3,
                      f"--output-latency-ms {output_ms:g}; input: {system.origin}")


class OutputLatency:
    """The delays the daemon compensates now (see the module docstring). `setting_ms` is
    `--output-latency-ms` (None: auto); `probe` asks JACK (None: the system tells
    nothing)."""

    def __init__(self, setting_ms: float | None = None,
                 probe: JackLatencyProbe | None = None) -> None:
        self._setting_ms = setting_ms
        self._probe = probe
        self._next_look = float("-inf")
        self.delays = delays_with_setting(PortDelays(), setting_ms)

    @property
    def output_seconds(self) -> float:
        """How early a message leaves before it is meant to be heard."""
        return self.delays.output_seconds

    @property
    def input_seconds(self) -> float:
        """How long before its arrival a message was sent."""
        return self.delays.input_seconds

    def look(self, input_port: str | None, output_port: str | None,
             now: float | None = None) -> None:
        """Ask JACK again (at most every LOOK_SECONDS) about Antiphon's own ports: the one
        the clock comes in on and the answer's; a change is said once."""
        now = time.monotonic() if now is None else now
        if self._probe is None or now < self._next_look:
            return
        system = self._probe.read(input_port, output_port)
        if system is None:  # the server is away: the last delays stay until it is back
            self._next_look = now + RETRY_SECONDS
            return
        self._next_look = now + LOOK_SECONDS
        delays = delays_with_setting(system, self._setting_ms)
        if delays != self.delays:
            log.info("MIDI latency: output %.2f ms, input %.2f ms (%s)",
                     delays.output_seconds * 1e3, delays.input_seconds * 1e3, delays.origin)
            self.delays = delays

    def state(self) -> dict:
        return self.delays.state()

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()


class JackLatencyProbe:
    """A client of the JACK server (never activated: no realtime thread, no Python there)
    that reads Antiphon's ports' latency ranges and the period. python-jack-client has no
    call for the latency ranges, so libjack's own `jack_port_get_latency_range` is called
    through ctypes on the port the client looked up (one libjack in the process: the one
    python-rtmidi loaded, see jack_links._import_jack)."""

    def __init__(self) -> None:
        self._client = None
        self._jack = None
        self._get_range = None

    def _open(self) -> bool:
        from antiphon.daemon.midi.jack_links import _import_jack, _loaded_libjack

        try:
            jack = _import_jack()
            if self._get_range is None:
                library = ctypes.CDLL(_loaded_libjack() or ctypes.util.find_library("jack"))
                get_range = library.jack_port_get_latency_range
                get_range.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_uint32 * 2)]
                get_range.restype = None
                self._get_range = get_range
            self._client = jack.Client(helper_client_name("latency"), no_start_server=True)
            self._jack = jack
            return True
        except Exception as err:  # noqa: BLE001 (no libjack, no JACK-Client, no server now)
            log.debug("cannot ask JACK about latencies: %s", err)
            return False

    def read(self, input_port: str | None, output_port: str | None) -> PortDelays | None:
        """The delays JACK's figures imply for these ports (a port not there yet counts 0);
        None when the server cannot be asked."""
        if self._client is None and not self._open():
            return None
        client = self._client
        try:
            # A request first: on a dead server it fails at once, before the shared
            # memory it left behind is read.
            client.get_uuid_for_client_name(client.name)
            capture = self._latency(input_port, CAPTURE)
            playback = self._latency(output_port, PLAYBACK)
            return jack_delays(capture, playback, client.blocksize, client.samplerate)
        except Exception as err:  # noqa: BLE001 (a dead server: reopened at the next look)
            log.debug("JACK latencies not read: %s", err)
            self.close()
            return None

    def _latency(self, port_name: str | None, mode: int) -> int:
        """The most frames of a port's latency range in `mode` (0 for no such port)."""
        if not port_name:
            return 0
        jack = self._jack
        pointer = jack._lib.jack_port_by_name(self._client._ptr, port_name.encode())
        if pointer == jack._ffi.NULL:
            return 0
        frames = (ctypes.c_uint32 * 2)()
        self._get_range(int(jack._ffi.cast("uintptr_t", pointer)), mode, ctypes.byref(frames))
        return int(frames[1])

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as err:  # noqa: BLE001 (a client of a dead server may refuse)
                log.debug("closing the JACK latency client: %s", err)
