"""systemd integration, standard library only: the sd_notify protocol (readiness, status,
watchdog, reload, stop), the checks that say whether systemd or journald runs us, the log
format journald reads, and the `antiphon.service` unit that `antiphon service install`
writes.

The notify protocol is one datagram per message, `KEY=VALUE` lines, sent to the AF_UNIX
socket named by `NOTIFY_SOCKET` (a leading '@' names the abstract namespace). Without that
variable every Notifier method is a cheap no-op, so the daemon calls them unconditionally.

A service with `Type=notify` must send `READY=1` once it answers, and with `WatchdogSec=`
send `WATCHDOG=1` more often than `watchdog_interval` (half of it, as systemd advises), or
systemd kills and restarts it. After `reloading()` it must send `READY=1` again.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)

UNIT_NAME = "antiphon.service"
SCOPES = ("user", "system")
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
WATCHDOG_SECONDS = 10  # the unit's WatchdogSec: the daemon pings every 5 s

# The target `systemctl enable` hooks the unit into, per scope: a user's manager starts
# default.target at login (or at boot with lingering), the system's multi-user.target.
WANTED_BY = {"user": "default.target", "system": "multi-user.target"}


class Notifier:
    """Messages to the service manager over `NOTIFY_SOCKET`; see the module docstring.

    Safe to share between threads (the watchdog pings from one, readiness comes from
    another). Sending never raises: a service must not die because its manager went away;
    the first failure is logged as a warning and the notifier goes quiet after it.
    """

    def __init__(self, address: str | None = None,
                 watchdog_interval: float | None = None) -> None:
        self._address = _socket_address(address) if address else None
        self._watchdog_interval = watchdog_interval
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._quiet = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd set up for this process (a no-op one when it set none)."""
        return cls(environ.get("NOTIFY_SOCKET") or None, _watchdog_interval(environ))

    @property
    def enabled(self) -> bool:
        """Whether a notify socket is named (messages are sent, not dropped)."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds within which systemd expects a `watchdog()` ping, or None (no watchdog)."""
        return self._watchdog_interval

    def ready(self, status: str) -> None:
        """The daemon answers: `Type=notify` units count as started from here."""
        self._send({"READY": "1", "STATUS": status})

    def status(self, text: str) -> None:
        """A one-line state shown by `systemctl status`."""
        self._send({"STATUS": text})

    def watchdog(self) -> None:
        """Still alive: call at least every `watchdog_interval / 2` seconds."""
        self._send({"WATCHDOG": "1"})

    def reloading(self) -> None:
        """A reload began; send `ready()` when it is done. The timestamp lets systemd
        (253 and later) tell this reload cycle from an earlier one."""
        self._send({"RELOADING": "1", "MONOTONIC_USEC": str(monotonic_usec())})

    def stopping(self) -> None:
        """A clean stop began (systemctl shows 'deactivating' rather than a hang)."""
        self._send({"STOPPING": "1"})

    def close(self) -> None:
        """Release the socket (a later message opens a new one)."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def _send(self, fields: Mapping[str, str]) -> None:
        if self._address is None or self._quiet:
            return
        # One field per line: a newline inside a value would start a bogus field.
        message = "\n".join(f"{key}={' '.join(value.splitlines())}"
                            for key, value in fields.items())
        with self._lock:
            if self._quiet:
                return
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)  # a full queue must not stall the music
                self._socket.sendto(message.encode(), self._address)
            except BlockingIOError:
                # The manager is busy: drop this one (the next ping comes in half the
                # watchdog's time) rather than wait, or give up on the manager altogether.
                log.debug("the notify socket is full; dropped %r", message)
            except OSError as err:
                self._quiet = True
                log.warning("the service manager's notify socket %s failed (%s); no further "
                            "notifications will be sent", _shown(self._address), err)


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd's MONOTONIC_USEC is read on."""
    if hasattr(time, "CLOCK_MONOTONIC"):
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return time.monotonic_ns() // 1000  # not Unix: nothing reads it, but stay callable


def _socket_address(address: str) -> bytes:
    # '@name' is the abstract namespace, which the kernel spells with a leading NUL byte.
    if address.startswith("@"):
        return b"\0" + os.fsencode(address[1:])
    return os.fsencode(address)


def _shown(address: bytes) -> str:
    return "@" + os.fsdecode(address[1:]) if address.startswith(b"\0") else os.fsdecode(address)


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    # WATCHDOG_PID names the process the watchdog is meant for: a child that inherited the
    # variables must not ping on its parent's behalf.
    pid = environ.get("WATCHDOG_PID")
    try:
        if pid is not None and int(pid) != os.getpid():
            return None
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


def under_service_manager(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether systemd started this process (it sets INVOCATION_ID for every unit it runs,
    NOTIFY_SOCKET for `Type=notify` ones)."""
    return bool(environ.get("NOTIFY_SOCKET") or environ.get("INVOCATION_ID"))


def under_journald(environ: Mapping[str, str] = os.environ,
                   stream: TextIO | None = None) -> bool:
    """Whether `stream` (stderr by default) is connected to the journal.

    systemd sets JOURNAL_STREAM to the `device:inode` of the stream it connected; as its
    documentation advises, that pair is compared with the stream's own, since a child whose
    stderr was redirected (to a file, a pipe) inherits the variable but not the journal."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        expected = (int(device), int(inode))
    except ValueError:
        return False  # unset or malformed: nothing says the journal is there
    try:
        info = os.fstat((sys.stderr if stream is None else stream).fileno())
    except (AttributeError, ValueError, OSError):
        return False  # a stream with no file descriptor (replaced, closed) is not the journal
    return (info.st_dev, info.st_ino) == expected


class JournalFormatter(logging.Formatter):
    """`<N>name: message`, N the syslog priority journald reads from a line's start; no
    timestamp, as the journal stamps each line itself."""

    PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
                  (logging.INFO, 6))

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in self.PRIORITIES if record.levelno >= level), 7)
        # journald makes one entry per line: each line of a traceback carries the priority,
        # or it would land at the default (info) level.
        lines = super().format(record).splitlines() or [""]
        return "\n".join(f"<{priority}>{line}" for line in lines)


def unit_path(scope: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the unit file goes: the user's systemd folder (under `$XDG_CONFIG_HOME`, default
    ~/.config) or the administrator's folder in /etc."""
    _check_scope(scope)
    if scope == "system":
        return SYSTEM_UNIT_DIR / UNIT_NAME
    configured = environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec: a relative value is invalid and is ignored.
    config_home = Path(configured) if os.path.isabs(configured) else Path.home() / ".config"
    return config_home / "systemd" / "user" / UNIT_NAME


def enabled_link(scope: str, environ: Mapping[str, str] = os.environ) -> Path:
    """The link `systemctl enable` makes for the unit (present while it is enabled)."""
    return unit_path(scope, environ).parent / f"{WANTED_BY[scope]}.wants" / UNIT_NAME


def render_unit(executable: Path, config: Path | None, scope: str) -> str:
    """The text of `antiphon.service` running `executable` (an absolute path to the
    `antiphon` command) with `config` (absolute, or None for the default config file)."""
    _check_scope(scope)
    for name, path in (("executable", executable), ("config", config)):
        if path is not None and not Path(path).is_absolute():
            raise ValueError(f"the unit needs an absolute {name} path, got {str(path)!r}")
    config_args = [] if config is None else ["--config", str(config)]
    run = exec_line([str(executable), "run", *config_args])
    panic = exec_line([str(executable), "panic", "--only-if-stopped", *config_args])
    systemctl = "systemctl --user" if scope == "user" else "systemctl"
    return "\n".join([
        f"# Written by `antiphon service install --{scope}`. To remove it:",
        f"#   {systemctl} disable --now {UNIT_NAME}",
        f"#   antiphon service uninstall --{scope}",
        f"#   {systemctl} daemon-reload",
        "",
        "[Unit]",
        "Description=Antiphon real-time MIDI improviser",
        # Sound cards come up with sound.target; MIDI needs no network.
        "After=sound.target",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={run}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        # After any stop, a crash or SIGKILL included, silence the synth: no note stays on.
        # Only what this service's daemon opened: a start that failed because the user's
        # own daemon runs on the socket must not cut that one's music (--only-if-stopped).
        # '-': a MIDI system that is gone has nothing sounding, and must not turn a clean
        # stop into a failure (which Restart=on-failure would act on).
        f"ExecStopPost=-{panic}",
        f"WatchdogSec={WATCHDOG_SECONDS}",
        "Restart=on-failure",
        "RestartSec=2",
        "TimeoutStopSec=10",
        # Log lines reach the journal as they are written, not when a buffer fills.
        "Environment=PYTHONUNBUFFERED=1",
        "",
        "[Install]",
        f"WantedBy={WANTED_BY[scope]}",
        "",
    ])


def exec_line(argv: list[str]) -> str:
    """A command line for an `Exec*=` setting, each word quoted as systemd parses it.
    Raises ValueError for an executable path systemd refuses (quotes, backslashes)."""
    executable, *args = argv
    if _EXECUTABLE_REFUSED.intersection(executable) or not executable.isprintable():
        raise ValueError(f"systemd cannot run an executable whose path holds quotes, "
                         f"backslashes or control characters: {executable!r}")
    # The executable is not subject to $VARIABLE substitution, its arguments are.
    return " ".join([_exec_quote(executable, dollar="$"), *(_exec_quote(arg) for arg in args)])


# Characters systemd's word splitting reads as syntax (separators, quotes, escapes).
_NEEDS_QUOTES = set(" \t\n\r\"'\\;")
_EXECUTABLE_REFUSED = set("\"'\\")
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _exec_quote(arg: str, dollar: str = "$$") -> str:
    # '%' starts a specifier (%h, %n...) and '$' a variable, even inside quotes: doubling
    # them keeps them literal. Backslash and double quote are C-escaped inside the quotes.
    text = arg.replace("%", "%%").replace("$", dollar)
    if text and not _NEEDS_QUOTES.intersection(text) and text.isprintable():
        return text
    return '"' + "".join(_c_escape(char) for char in text) + '"'


def _c_escape(char: str) -> str:
    if char in _C_ESCAPES:
        return _C_ESCAPES[char]
    if char.isprintable():
        return char  # UTF-8 is fine in a unit file
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be 'user' or 'system', got {scope!r}")
