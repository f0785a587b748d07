"""The client end of the control socket (`ask`), used by `antiphon status`, `set`, `model`,
`panic`, `reload`, `learn` and `knobs`: one request, one answer (control_socket.py has the
protocol).

Before it sends anything, the client checks who listens (`SO_PEERCRED`): only a process of
the client's own user (the same uid, root not excepted) is told anything. Anything else on
the socket's path was put there by someone else, and a setting sent to it would be reported
as applied while the daemon never heard it.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path

CLIENT_TIMEOUT_SECONDS = 30.0  # a model swap loads a model: seconds, on a slow machine
CONNECT_RETRY_SECONDS = 5.0  # how long `ask` retries while the daemon's queue is full
MAX_PATH_BYTES = 107  # sun_path holds 108 bytes on Linux, with the terminating NUL


class NoDaemon(OSError):
    """No daemon answers on the control socket."""


class NotTheDaemon(OSError):
    """What listens on the control socket runs as another user: nothing is sent to it."""


def ask(path: Path, request: dict, timeout: float = CLIENT_TIMEOUT_SECONDS) -> dict:
    """Send one request to the daemon on `path` and return its answer.

    Raises NoDaemon when nothing answers there, NotTheDaemon when another user's process
    does, OSError for anything else (with a message that can be shown as it is).
    """
    refuse_if_too_long(path)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    with client:
        _connect(client, path, min(timeout, CONNECT_RETRY_SECONDS))
        check_peer(client, path)
        try:
            client.sendall(json.dumps(request).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was read whole (too long): the answer says why
        except TimeoutError:
            raise OSError(f"the daemon on {path} took no request within {timeout:g} s") from None
        try:
            reply = client.makefile("rb").readline()
        except TimeoutError:
            raise OSError(f"the daemon on {path} did not answer within {timeout:g} s") from None
        except ConnectionResetError:
            reply = b""
    if not reply:
        raise OSError(f"the daemon on {path} closed the connection without answering")
    try:
        answer = json.loads(reply)
    except ValueError as err:
        raise OSError(f"the daemon on {path} answered something that is not JSON") from err
    if not isinstance(answer, dict):
        raise OSError(f"the daemon on {path} answered something that is not an answer")
    return answer


def peer_credentials(connection: socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end, None where the system cannot tell."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None  # macOS: the file and folder modes alone guard it
    credentials = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    pid, uid, _ = struct.unpack("3i", credentials)
    return pid, uid


def check_peer(client: socket.socket, path: Path) -> None:
    """Raise NotTheDaemon unless the listening end runs as the client's own user."""
    peer = peer_credentials(client)
    if peer is None:
        return
    pid, uid = peer
    if uid != os.geteuid():
        raise NotTheDaemon(
            f"refusing to talk to the process on {path}: it runs as uid {uid} (pid {pid}), "
            f"not as you (uid {os.geteuid()}), so it is not your Antiphon daemon; nothing "
            "was sent (someone may have put it in the daemon's place)")


def refuse_if_too_long(path: Path) -> None:
    """Raise OSError, naming the path and the limit, when `path` cannot be a Unix socket's."""
    length = len(os.fsencode(path))
    if length > MAX_PATH_BYTES:
        raise OSError(f"control socket path {str(path)!r} is too long for a Unix socket "
                      f"({length} bytes, at most {MAX_PATH_BYTES}): give a shorter "
                      "--control-socket")


def _connect(client: socket.socket, path: Path, patience: float) -> None:
    """Connect `client` to the daemon on `path`, retrying for up to `patience` seconds while
    its queue of connections is full: a socket with a timeout connects without blocking,
    and a full queue then answers EAGAIN at once."""
    deadline = time.monotonic() + patience
    pause = 0.005
    while True:
        try:
            client.connect(str(path))
            return
        except BlockingIOError as err:
            if time.monotonic() + pause > deadline:
                raise OSError(f"the daemon on {path} takes no more connections (its queue "
                              f"stayed full for {patience:g} s: busy or stuck); try again"
                              ) from err
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise NoDaemon(f"no Antiphon daemon answers on {path} (start one with "
                           "`antiphon run`, or see `systemctl --user status antiphon`)") from err
        except PermissionError as err:
            raise OSError(f"no permission to use the control socket {path}: it belongs to "
                          "the user who runs the daemon") from err
