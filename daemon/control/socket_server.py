"""The control socket: a local Unix stream socket (no network listener) through which
`antiphon status`, `set`, `model`, `panic` and `reload` reach a running daemon. Only its
user may use it: the socket file is made 0600 (the umask is narrowed while it is bound: no
moment open to others), and each peer's user is checked (SO_PEERCRED). Its folder is made
0700, and one that another user could change is refused (config/private_folder.py); the client
checks the server's user in turn (control_client.py).

One JSON object per line each way: a request (`{"command": "status"}`), then its answer
(`{"ok": true, "status": {...}}` or `{"ok": false, "error": "..."}`).

Whatever a client sends, the daemon stays whole: a request line is read in bounded chunks
and refused past MAX_REQUEST_BYTES, must arrive whole within REQUEST_SECONDS, at most
MAX_CLIENTS are served at once (the others wait their turn while the served ones make
progress), and a failed request is answered as an error.

The socket (and its lock, instance_lock.py) keeps two daemons apart: a second one would
fight the first for the ports, and its start-up panic would silence the first one's music.
A socket left by a killed daemon answers nobody and is replaced (one of another user's is
refused: no daemon of ours left it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from antiphon.daemon.config.private_folder import UnsafePath, open_folder, refuse_link
from antiphon.daemon.control.client import (
    CLIENT_TIMEOUT_SECONDS,
    MAX_PATH_BYTES,
    NoDaemon,
    NotTheDaemon,
    ask,
    peer_credentials,
    refuse_if_too_long,
)
from antiphon.daemon.control.instance_lock import AlreadyRunning, InstanceLock

# The client's names stay importable from here, where they were first.
__all__ = ["CLIENT_TIMEOUT_SECONDS", "MAX_PATH_BYTES", "AlreadyRunning", "ControlServer",
           "NoDaemon", "NotTheDaemon", "UnsafePath", "ask", "current_client_gone"]

log = logging.getLogger(__name__)

_serving = threading.local()  # the connection a control thread is answering, if any

MAX_REQUEST_BYTES = 65536  # one request line, its newline included
READ_CHUNK_BYTES = 16384  # a line without end is refused near the limit, never held whole
# A request arrives whole within this of the connection or the previous answer (the wait
# for an answer, a learn's, is not counted): a trickling client cannot hold its thread.
REQUEST_SECONDS = 10.0
MAX_CLIENTS = 32  # connections served at once, a thread each
# A connection over the cap waits for a slot while the served ones make progress, and is
# refused once no slot has come free for this long: a burst of quick requests (a script, a
# status bar, hundreds at once) is served in turn, clients that sit on every slot are not.
CLIENT_SLOT_WAIT_SECONDS = 1.0
SLOT_POLL_SECONDS = 0.02  # how often the accepting thread looks for a slot while some wait
LISTEN_BACKLOG = 256  # connections the kernel queues while the accepting thread catches up
MAX_WAITING = 64  # accepted connections waiting for a slot; past it, the kernel's queue holds
ACCEPT_POLL_SECONDS = 0.5  # how often the accepting thread looks for close()


class _Refused(Exception):
    """A request refused without being read whole: the answer is the message, then the
    connection is closed (what follows on it cannot be told apart from the refused line)."""


class ControlServer:
    """Accepts control connections on a thread of its own; `handle` answers each request."""

    def __init__(self, path: Path, handle: Callable[[dict], dict], *,
                 max_clients: int = MAX_CLIENTS,
                 request_seconds: float = REQUEST_SECONDS) -> None:
        self.path = Path(path)
        self._handle = handle
        self.max_clients = max_clients
        self.request_seconds = request_seconds
        self._slots = threading.BoundedSemaphore(max_clients)
        # Connections over the cap and when each began waiting; the accepting thread's alone.
        self._waiting: deque[tuple[socket.socket, float]] = deque()
        self._last_freed = 0.0  # when a slot last came free (monotonic)
        self._socket: socket.socket | None = None
        self._inode: int | None = None
        self._lock = InstanceLock(self.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="antiphon-control",
                                        daemon=True)

    def claim(self) -> None:
        """Bind the socket. Raises AlreadyRunning when a daemon answers there, UnsafePath
        when its folder (or a file in it) could be changed by another user, OSError when the
        path cannot be used (too long, not a socket, no permission)."""
        path = self.path
        refuse_if_too_long(path)
        folder = open_folder(path.parent, create=True)
        try:
            refuse_link(folder, path.name, path.parent)
            try:
                found = os.stat(path.name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                found = None
            stale = found is not None
            if stale:
                if not stat.S_ISSOCK(found.st_mode):
                    raise OSError(f"{str(path)!r} exists and is not a socket: move it away "
                                  "or give another --control-socket")
                if found.st_uid != os.geteuid():  # not a daemon of ours left it: say so
                    raise UnsafePath(f"the control socket {str(path)!r} belongs to uid "
                                     f"{found.st_uid}, not to you (uid {os.geteuid()}): "
                                     "refusing to replace it (remove it, or give another "
                                     "--control-socket)")
                self._refuse_if_answered()
            self._lock.acquire(folder)  # a daemon whose socket's file was deleted holds it
            try:
                self._bind(path, folder if stale else None)
            except BaseException:
                self._lock.release()
                raise
        finally:
            os.close(folder)

    def record_opened(self, opened: dict) -> None:
        """Note the MIDI output this daemon opened, for the service's stop hook
        (instance_lock.py); claim() first."""
        self._lock.record(opened)

    def _bind(self, path: Path, stale_in: int | None) -> None:
        """Bind `path`; `stale_in`: the checked folder where a dead daemon's socket lies."""
        if stale_in is not None:  # a socket a killed daemon left: nobody answers
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path.name, dir_fd=stale_in)  # in the folder checked, not by path
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
        server.listen(LISTEN_BACKLOG)
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
        self._lock.release()

    # -- serving ----------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            self._admit_waiting()
            if len(self._waiting) >= MAX_WAITING:
                # The rest stay in the kernel's queue (their clients retry a full one).
                self._stop.wait(SLOT_POLL_SECONDS)
                continue
            self._socket.settimeout(SLOT_POLL_SECONDS if self._waiting else ACCEPT_POLL_SECONDS)
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError as err:
                if self._stop.is_set():
                    break
                # Out of file descriptors or the like: this connection is lost, not the socket.
                log.warning("control socket: cannot accept a connection: %s", err)
                self._stop.wait(ACCEPT_POLL_SECONDS)
                continue
            if not self._waiting and self._slots.acquire(blocking=False):
                self._start_serving(connection)
            else:  # first come, first served
                self._waiting.append((connection, time.monotonic()))
        while self._waiting:
            self._waiting.popleft()[0].close()

    def _admit_waiting(self) -> None:
        """Serve the waiting connections that a slot has come free for, in the order they
        came; refuse them when no slot has come free for CLIENT_SLOT_WAIT_SECONDS."""
        while self._waiting:
            connection, since = self._waiting[0]
            if self._slots.acquire(blocking=False):
                self._waiting.popleft()
                self._start_serving(connection)
            elif time.monotonic() - max(since, self._last_freed) >= CLIENT_SLOT_WAIT_SECONDS:
                self._waiting.popleft()
                self._refuse(connection)
            else:
                return

    def _refuse(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(SLOT_POLL_SECONDS)  # a refusal never holds up accepting
            try:
                _send(connection, {"ok": False, "error": f"too many control clients at once "
                                   f"(at most {self.max_clients}): try again in a moment"})
            except OSError:
                pass  # it did not wait for the refusal

    def _start_serving(self, connection: socket.socket) -> None:
        """Serve `connection` on a thread of its own, in the slot taken for it."""
        try:
            threading.Thread(target=self._serve, args=(connection,),
                             name="antiphon-control-client", daemon=True).start()
        except RuntimeError as err:  # the system gives no more threads
            self._slots.release()
            connection.close()
            log.warning("control socket: cannot serve a connection: %s", err)

    def _serve(self, connection: socket.socket) -> None:
        try:
            with connection:
                try:
                    self._converse(connection)
                except OSError:
                    pass  # the client went away, or read no answer in time
                except Exception as err:  # a bug must not end the thread unseen or unanswered
                    log.error("control connection failed: %s: %s", type(err).__name__, err)
                    try:
                        _send(connection, {"ok": False, "error": f"internal error: {err}"})
                    except OSError:
                        pass  # the connection is gone too
        finally:
            self._last_freed = time.monotonic()
            self._slots.release()

    def _converse(self, connection: socket.socket) -> None:
        """Answer the requests on `connection`, one line each, until the client is done."""
        if not _same_user(connection):
            connection.settimeout(self.request_seconds)
            _send(connection, {"ok": False, "error": "not the daemon's user"})
            return
        pending = bytearray()  # what was read past the request being answered
        while True:
            try:
                line = self._next_request(connection, pending)
            except _Refused as refusal:
                connection.settimeout(self.request_seconds)
                _send(connection, {"ok": False, "error": str(refusal)})
                return
            if line is None:
                return
            answer = self._answer(line, connection)
            connection.settimeout(self.request_seconds)  # a client that reads no answer goes
            _send(connection, answer)

    def _next_request(self, connection: socket.socket, pending: bytearray) -> bytes | None:
        """The next request line, read within the request deadline; None when the client
        closed or stayed silent. Raises _Refused for a line too long or too slow."""
        deadline = time.monotonic() + self.request_seconds
        while True:
            end = pending.find(b"\n") + 1
            if end:
                line = bytes(pending[:end])
                del pending[:end]
                if len(line) > MAX_REQUEST_BYTES:
                    raise _Refused("request too long")
                return line
            if len(pending) >= MAX_REQUEST_BYTES:  # its newline would make it too long
                raise _Refused("request too long")
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                connection.settimeout(remaining)
                chunk = connection.recv(READ_CHUNK_BYTES)
            except TimeoutError:
                if not pending:
                    return None  # said nothing: dropped without a word
                raise _Refused(f"request not complete within {self.request_seconds:g} s "
                               "(a request is one JSON object and a newline)") from None
            if not chunk:  # the client closed; a last line without its newline still counts
                line = bytes(pending)
                pending.clear()
                return line or None
            pending += chunk

    def _answer(self, line: bytes, connection: socket.socket) -> dict:
        try:
            request = json.loads(line)
        except RecursionError:  # the parser recurses once per level of nesting
            return {"ok": False, "error": "not a JSON request: nested too deeply"}
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
    """Whether the client closed its end whole (hung up). One that only shut its sending
    side once the request was sent (`nc -N`, socat) still waits for the answer."""
    poller = select.poll()
    poller.register(connection, select.POLLIN)
    try:
        return any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
                   for _, mask in poller.poll(0))
    except OSError:
        return True


def _same_user(connection: socket.socket) -> bool:
    """Whether the peer runs as our user (or root); True where the system cannot tell."""
    peer = peer_credentials(connection)
    return peer is None or peer[1] in (os.geteuid(), 0)


def _send(connection: socket.socket, answer: dict) -> None:
    connection.sendall(json.dumps(answer).encode() + b"\n")
