"""The control socket: a local Unix stream socket through which `antiphon status`, `set`,
`model`, `panic` and `reload` reach a running daemon. No network listener.

Only the user who runs the daemon may use it: the socket file is made with mode 0600 (the
umask is narrowed while it is bound, so there is no moment it is open to others), its
folder is made 0700, and each connecting process's user is checked (SO_PEERCRED).

The protocol is one JSON object per line each way: a request (`{"command": "status"}`),
then its answer (`{"ok": true, "status": {...}}` or `{"ok": false, "error": "..."}`).

The socket also keeps two daemons apart: one that finds the socket answering refuses to
start (a second daemon would fight the first for the ports, and its start-up panic would
silence the first one's music); a socket left by a killed daemon answers nobody and is
replaced.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import select
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_serving = threading.local()  # the connection a control thread is answering, if any

MAX_REQUEST_BYTES = 65536
CLIENT_TIMEOUT_SECONDS = 30.0  # a model swap loads a model: seconds, on a slow machine
CONNECTION_TIMEOUT_SECONDS = 10.0  # a client that connects and says nothing is dropped
ACCEPT_POLL_SECONDS = 0.5  # how often the accepting thread looks for close()
MAX_PATH_BYTES = 107  # sun_path holds 108 bytes on Linux, with the terminating NUL


class AlreadyRunning(OSError):
    """Another daemon answers on the control socket."""


class NoDaemon(OSError):
    """No daemon answers on the control socket."""


class ControlServer:
    """Accepts control connections on a thread of its own; `handle` answers each request."""

    def __init__(self, path: Path, handle: Callable[[dict], dict]) -> None:
        self.path = Path(path)
        self._handle = handle
        self._socket: socket.socket | None = None
        self._inode: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="antiphon-control",
                                        daemon=True)

    def claim(self) -> None:
        """Bind the socket. Raises AlreadyRunning when a daemon answers there, OSError when
        the path cannot be used (too long, not a socket, no permission)."""
        path = self.path
        if len(os.fsencode(path)) > MAX_PATH_BYTES:
            raise OSError(f"control socket path {str(path)!r} is too long for a Unix socket "
                          f"(at most {MAX_PATH_BYTES} bytes): give a shorter --control-socket")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if not path.is_socket():
                raise OSError(f"{str(path)!r} exists and is not a socket: move it away or "
                              "give another --control-socket")
            self._refuse_if_answered()
            path.unlink()  # a socket a killed daemon left: nobody answers on it
            log.info("replaced a stale control socket at %s", path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        umask = os.umask(0o177)  # the file is born 0600: no moment it is open to others
        try:
            server.bind(str(path))
        except OSError as err:
            server.close()
            if err.errno == errno.EADDRINUSE:  # another daemon bound it a moment ago
                raise AlreadyRunning(f"another Antiphon daemon is starting on {path}") from err
            raise OSError(f"cannot make the control socket {path}: {err.strerror}") from err
        finally:
            os.umask(umask)
        os.chmod(path, 0o600)
        server.listen(8)
        server.settimeout(ACCEPT_POLL_SECONDS)
        self._socket = server
        self._inode = path.stat().st_ino

    def _refuse_if_answered(self) -> None:
        try:
            answer = ask(self.path, {"command": "status"}, timeout=5.0)
        except NoDaemon:
            return
        except OSError as err:  # it answers, but not as a daemon should: still taken
            raise AlreadyRunning(f"something answers on the control socket {self.path} "
                                 f"({err}): is another Antiphon daemon running?") from err
        pid = answer.get("status", {}).get("pid", "?")
        raise AlreadyRunning(
            f"another Antiphon daemon (pid {pid}) is running on the control socket "
            f"{self.path}: stop it first (antiphon stops on Ctrl-C or SIGTERM; as a service, "
            "systemctl --user stop antiphon), or give this one another --control-socket")

    def start(self) -> None:
        if self._socket is None:
            raise RuntimeError("claim() the control socket before start()")
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and remove the socket file (if it is still ours)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(ACCEPT_POLL_SECONDS * 2)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
            try:
                if self.path.stat().st_ino == self._inode:
                    self.path.unlink()
            except OSError:
                pass  # already gone

    # -- serving ----------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            threading.Thread(target=self._serve, args=(connection,),
                             name="antiphon-control-client", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(CONNECTION_TIMEOUT_SECONDS)
            if not _same_user(connection):
                _send(connection, {"ok": False, "error": "not the daemon's user"})
                return
            reader = connection.makefile("rb")
            try:
                for line in reader:
                    if len(line) > MAX_REQUEST_BYTES:
                        _send(connection, {"ok": False, "error": "request too long"})
                        return
                    _send(connection, self._answer(line, connection))
            except (OSError, ValueError):
                return  # the client went away or said nothing in time

    def _answer(self, line: bytes, connection: socket.socket) -> dict:
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "not a JSON request"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request is a JSON object with a 'command'"}
        _serving.connection = connection  # for a request that waits (current_client_gone)
        try:
            return self._handle(request)
        except Exception as err:  # a bug must not end the daemon: log it, answer, go on
            log.exception("control request %r failed", request.get("command"))
            return {"ok": False, "error": f"internal error: {err}"}


def current_client_gone() -> bool:
    """Whether the client of the request this thread answers has gone away (False off the
    control socket's threads): a request that waits (a learn) ends when nobody waits for it."""
    connection = getattr(_serving, "connection", None)
    return connection is not None and _client_gone(connection)


def _client_gone(connection: socket.socket) -> bool:
    """Whether the client closed its end: readable, and a peek reads the end of the stream.
    (select first: a socket with a timeout waits for data even when asked not to.)"""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _same_user(connection: socket.socket) -> bool:
    """Whether the peer runs as our user (or root); True where the system cannot tell."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True  # macOS: the file mode alone guards it
    credentials = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", credentials)
    return uid in (os.getuid(), 0)


def _send(connection: socket.socket, answer: dict) -> None:
    connection.sendall(json.dumps(answer).encode() + b"\n")


def ask(path: Path, request: dict, timeout: float = CLIENT_TIMEOUT_SECONDS) -> dict:
    """Send one request to the daemon on `path` and return its answer.

    Raises NoDaemon when nothing answers there, OSError for anything else.
    """
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    with client:
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise NoDaemon(f"no Antiphon daemon answers on {path} (start one with "
                           "`antiphon run`, or see `systemctl --user status antiphon`)") from err
        except PermissionError as err:
            raise OSError(f"no permission to use the control socket {path}: it belongs to "
                          "the user who runs the daemon") from err
        client.sendall(json.dumps(request).encode() + b"\n")
        reply = client.makefile("rb").readline()
    if not reply:
        raise OSError(f"the daemon on {path} closed the connection without answering")
    try:
        answer = json.loads(reply)
    except ValueError as err:
        raise OSError(f"the daemon on {path} answered something that is not JSON") from err
    if not isinstance(answer, dict):
        raise OSError(f"the daemon on {path} answered something that is not an answer")
    return answer
