"""The MIDI systems Antiphon can open, by the names options use, and whether one is there.

`BACKEND_NAMES` is importable without python-rtmidi, so the config and the command line can
check a name before any port opens; everything else imports rtmidi when first called.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# python-rtmidi's APIs by option name; "auto" takes the first that has ports here.
BACKEND_NAMES = ("auto", "alsa", "jack", "coremidi", "winmm")
ALSA_SEQUENCER_DEVICE = "/dev/snd/seq"


def helper_client_name(role: str) -> str:
    """The client name of one of Antiphon's helpers (a probe, a lister: no port a user
    connects by name), with this process's id. libjack names a client's notification
    socket after the client alone (/dev/shm/jack_<client>_<uid>_0), not after its server:
    two clients of one name opening at once on two JACK servers (two Antiphons, each on
    a server of its own) take each other's socket, and one of them fails to open."""
    return f"Antiphon {role} {os.getpid()}"


def api_of(backend: str) -> int:
    """rtmidi's API constant for a concrete backend name."""
    import rtmidi

    return {
        "alsa": rtmidi.API_LINUX_ALSA,
        "jack": rtmidi.API_UNIX_JACK,
        "coremidi": rtmidi.API_MACOSX_CORE,
        "winmm": rtmidi.API_WINDOWS_MM,
    }[backend]


def compiled_backends() -> list[str]:
    """The backends this python-rtmidi build speaks."""
    import rtmidi

    compiled = set(rtmidi.get_compiled_api())
    return [name for name in BACKEND_NAMES[1:] if api_of(name) in compiled]


def jack_server_running() -> bool:
    """True when a JACK server accepts clients (the one JACK_DEFAULT_SERVER names).

    Never starts one: a client library that starts a server behind a daemon's back would
    hide that the MIDI system went away."""
    import rtmidi

    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        return False
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        with _quiet_stderr():
            probe = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=helper_client_name("probe"))
    except rtmidi.SystemError:
        return False
    probe.delete()
    return True


def system_alive(backend: str) -> bool:
    """Whether the MIDI system of a concrete backend is there now."""
    if backend == "jack":
        return jack_server_running()
    if backend == "alsa":
        return os.path.exists(ALSA_SEQUENCER_DEVICE)
    return True  # CoreMIDI and Windows MM are part of the operating system


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
