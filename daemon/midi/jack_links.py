"""JACK connections, made and checked through python-jack-client (the `jack` module).

On JACK, Antiphon's ports are its own (virtual) ports, always there, and this client makes
and checks their connections to the keyboard and the synth: a keyboard's client that quits
and comes back under the same name between two looks has the same port name and no
connection, which only JACK can tell. This client is never activated, so it has no
realtime thread and runs no Python there. Where the module or libjack is missing
(`client_library_loads`), the edge opens and closes named ports instead (named_edge.py).
"""

from __future__ import annotations

import logging
import time

from antiphon.daemon.midi.backends import helper_client_name
from antiphon.daemon.midi.port_kinds import PortKind
from antiphon.daemon.midi.ports import is_own_port

log = logging.getLogger(__name__)

SETTLE_CYCLES = 2  # JACK cycles begun after a connection is seen in the running graph
SETTLE_TIMEOUT_SECONDS = 1.0  # the most a send waits for its connection to take effect
REMEMBER_SECONDS = 0.5  # how often the connections of Antiphon's ports are looked at


def client_library_loads() -> bool:
    """Whether python-jack-client and its libjack load here (said once when they do not):
    what decides, on JACK, between keeping connections and opening named ports."""
    try:
        _import_jack()
    except (ImportError, OSError) as err:  # OSError: the module found no libjack
        log.info("python-jack-client unavailable (%s): port connections are not checked", err)
        return False
    return True


class JackLinks:
    """A client of the JACK server that connects ports and asks about connections."""

    def __init__(self, client, error: type[Exception]) -> None:
        self._client = client
        self._error = error  # jack.JackError

    @classmethod
    def open(cls) -> JackLinks | None:
        """A client of the running server; None (and logged) where there is none."""
        try:
            jack = _import_jack()
        except (ImportError, OSError) as err:  # OSError: the module found no libjack
            log.info("python-jack-client unavailable (%s): port connections are not checked",
                     err)
            return None
        try:
            client = jack.Client(helper_client_name("links"), no_start_server=True)
            return cls(client, jack.JackError)
        except jack.JackError as err:
            log.warning("cannot ask JACK about connections: %s", err)
            return None

    def connected(self, own_port: str, other: str) -> bool:
        """Whether `own_port` is connected to `other` (True if JACK cannot be asked)."""
        try:
            return any(port.name == other for port in self._client.get_all_connections(own_port))
        except self._error as err:
            log.debug("cannot ask JACK about %r: %s", own_port, err)
            return True

    def unconnected(self, own_port: str, ignoring: str) -> bool:
        """Whether nothing but clients named `ignoring...` (Antiphon's own, its input's
        probe) is connected to `own_port` (False if JACK cannot be asked)."""
        try:
            return all(port.name.startswith(ignoring)
                       for port in self._client.get_all_connections(own_port))
        except self._error as err:
            log.debug("cannot ask JACK about %r: %s", own_port, err)
            return False

    def answers(self) -> bool:
        """Whether the JACK server answers a request, made over the connection this client
        holds (no client is opened: see system_watch.py). A dead server fails it at once."""
        try:
            self._client.get_uuid_for_client_name(self._client.name)
            return True
        except self._error:
            return False

    def peers(self, own_port: str) -> list[str] | None:
        """The ports connected to `own_port` (None if JACK cannot be asked)."""
        try:
            return [port.name for port in self._client.get_all_connections(own_port)]
        except self._error as err:
            log.debug("cannot ask JACK about %r: %s", own_port, err)
            return None

    def settle(self, source: str, destination: str) -> bool:
        """Wait until a connection just made carries what is sent next: JACK switches to a
        changed graph at the start of a cycle, and a message sent before then is lost to
        the new destination. Waits until the running graph has the connection and
        `SETTLE_CYCLES` more cycles have begun, at most `SETTLE_TIMEOUT_SECONDS`; counting
        cycles, not seconds, holds on a loaded machine whose cycles come late."""
        client = self._client
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        period = client.blocksize / max(1, client.samplerate)
        while not self.connected(source, destination):
            if time.monotonic() > deadline:
                return False
            time.sleep(period / 4)
        start = client.last_frame_time
        while (client.last_frame_time - start) % 2**32 < SETTLE_CYCLES * client.blocksize:
            if time.monotonic() > deadline:
                return False
            time.sleep(period / 4)
        return True

    def connect(self, source: str, destination: str) -> bool:
        """Connect two ports; False (and logged) when JACK refuses. Ports someone else
        connected already (a patchbay, a session restored, the DAW itself) are connected:
        JACK refuses to connect them twice, and that is no failure."""
        try:
            self._client.connect(source, destination)
            return True
        except self._error as err:
            if self.connected(source, destination):
                return True
            log.warning("cannot connect %r to %r: %s", source, destination, err)
            return False

    def close(self) -> None:
        try:
            self._client.close()
        except self._error as err:  # a client of a dead server may refuse
            log.debug("closing the JACK links client: %s", err)


class LinkMemory:
    """The connections of Antiphon's ports, by role (the kind of port), as last seen
    while the MIDI system was there. A JACK server that dies takes every connection with it,
    the ones other programs made (a patchbay, a session manager, the user) too: after a
    reconnect each is made again as soon as both of its ends exist."""

    def __init__(self) -> None:
        self._seen: dict[PortKind, set[str]] = {}  # role -> the other programs' ports
        self._owed: dict[PortKind, set[str]] = {}  # connections to make again, by role
        self._looked = float("-inf")

    def look(self, links: JackLinks, own: dict[PortKind, str | None]) -> None:
        """Remember what is connected to Antiphon's ports now (`own`: role -> its port)."""
        now = time.monotonic()
        if now - self._looked < REMEMBER_SECONDS:
            return
        self._looked = now
        for role, port in own.items():
            peers = links.peers(port) if port is not None else None
            if peers is not None:
                self._seen[role] = {peer for peer in peers if not is_own_port(peer)}

    def lost(self) -> None:
        """The system is gone: every connection seen is owed."""
        for role, peers in self._seen.items():
            if peers:
                self._owed.setdefault(role, set()).update(peers)
        self._seen.clear()
        self._looked = float("-inf")

    def restore(self, links: JackLinks, own: dict[PortKind, str | None],
                sources: list[str], destinations: list[str]) -> None:
        """Make again each owed connection whose ends both exist; an input's peers send to
        it, an output sends to its peers."""
        for role, peers in self._owed.items():
            port = own.get(role)
            if port is None:
                continue
            into = role.is_input
            there = sources if into else destinations
            for peer in sorted(peers):
                if peer not in there:
                    continue
                made = links.connect(peer, port) if into else links.connect(port, peer)
                peers.discard(peer)
                if made:
                    log.info("connected %r %s %r again, as it was before the MIDI system "
                             "went", port, "from" if into else "to", peer)
        self._owed = {role: peers for role, peers in self._owed.items() if peers}

    @property
    def owed(self) -> dict[PortKind, set[str]]:
        return {role: set(peers) for role, peers in self._owed.items()}


def _import_jack():
    """python-jack-client, bound to the libjack python-rtmidi already loaded where there is
    one: a second copy of libjack in the process would map the server's shared memory again
    (about 100 MB more resident) and keep a second view of the same clients."""
    import sys

    if "jack" in sys.modules:
        return sys.modules["jack"]
    import ctypes.util

    loaded = _loaded_libjack()
    original = ctypes.util.find_library
    if loaded is not None:
        ctypes.util.find_library = lambda name: loaded if "jack" in name else original(name)
    try:
        import jack
    finally:
        ctypes.util.find_library = original
    return jack


def _loaded_libjack() -> str | None:
    """The path of a libjack this process has loaded (python-rtmidi bundles its own)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "/libjack" in path and ".so" in path:
                    return path
    except OSError:  # not Linux: no /proc
        return None
    return None
