"""JACK connections, made and checked through python-jack-client (the `jack` module).

On JACK, Antiphon's ports are its own (virtual) ports, always there, and this client makes
and checks their connections to the keyboard and the synth: a keyboard's client that quits
and comes back under the same name between two looks has the same port name and no
connection, which only JACK can tell. This client is never activated, so it has no
realtime thread and runs no Python there. Where the module or libjack is missing,
`JackLinks.open()` returns None and the edge opens and closes named ports instead.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

LINKS_CLIENT_NAME = "Antiphon links"


class JackLinks:
    def __init__(self, client, error: type[Exception]) -> None:
        self._client = client
        self._error = error  # jack.JackError

    @classmethod
    def open(cls) -> JackLinks | None:
        try:
            jack = _import_jack()
        except (ImportError, OSError) as err:  # OSError: the module found no libjack
            log.info("python-jack-client unavailable (%s): port connections are not checked",
                     err)
            return None
        try:
            return cls(jack.Client(LINKS_CLIENT_NAME, no_start_server=True), jack.JackError)
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
