"""The control socket over a real Unix socket: who may use it, one daemon per socket,
stale and foreign files at its path, and a server that keeps serving whatever it is sent.

Socket paths are short folders under XDG_RUNTIME_DIR (tests/conftest.py keeps it short):
pytest's tmp_path is too long for AF_UNIX's 107 bytes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading

import pytest
from daemon_helpers import echo, talk

from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.socket_server import (
    MAX_PATH_BYTES,
    MAX_REQUEST_BYTES,
    AlreadyRunning,
    ControlServer,
    NoDaemon,
    ask,
)


def test_the_socket_is_the_users_alone_whatever_the_umask(folder, serve):
    path = folder / "made" / "control.sock"
    # With an open umask a plain bind would leave the file 0777 and the folder 0777.
    previous = os.umask(0)
    try:
        serve(path)
        assert os.umask(0) == 0, "claim() left its narrowed umask behind"
    finally:
        os.umask(previous)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_ask_round_trips_a_request(folder, serve):
    path = folder / "c.sock"
    serve(path)
    request = {"command": "set", "key": "temperature", "value": "0.8"}
    assert ask(path, request) == {"ok": True, "echo": request}
    assert ask(path, {"command": "status"}) == {"ok": True, "status": {"pid": 4242}}


def test_a_second_server_on_the_path_names_the_first_ones_pid(folder, serve):
    path = folder / "c.sock"
    serve(path)
    second = ControlServer(path, echo)
    with pytest.raises(AlreadyRunning, match=r"another Antiphon daemon \(pid 4242\)"):
        second.claim()
    # The refusal touched nothing of the first one.
    assert path.is_socket()
    assert ask(path, {"command": "ping"})["ok"] is True


def test_a_daemon_whose_socket_file_was_deleted_still_keeps_a_second_one_out(folder):
    path = folder / "c.sock"
    first = ControlServer(path, echo)
    first.claim()
    first.start()
    try:
        path.unlink()  # a clean-up script: nothing answers there now, the daemon runs
        with pytest.raises(AlreadyRunning, match=rf"daemon \(pid {os.getpid()}\) holds"):
            ControlServer(path, echo).claim()
    finally:
        first.close()
    after = ControlServer(path, echo)  # the first is gone: its lock went with it
    after.claim()
    after.close()


def test_something_else_answering_there_also_counts_as_taken(folder):
    path = folder / "c.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def answer_garbage() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(b"hello, I am not a daemon\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        with pytest.raises(AlreadyRunning, match="something answers"):
            ControlServer(path, echo).claim()
        assert path.is_socket()  # not taken over
    finally:
        thread.join(5)
        listener.close()


def test_a_stale_socket_nobody_listens_on_is_replaced(folder, serve, caplog):
    path = folder / "c.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # as a killed daemon leaves it: the file stays, nobody listens
    with caplog.at_level(logging.INFO, logger="antiphon.daemon.control.socket_server"):
        serve(path)
    assert "replaced a stale control socket" in caplog.text
    assert ask(path, {"command": "ping"})["ok"] is True


def test_a_file_that_is_not_a_socket_is_refused_and_left_alone(folder):
    path = folder / "c.sock"
    path.write_text("someone's notes\n")
    with pytest.raises(OSError, match="exists and is not a socket") as refused:
        ControlServer(path, echo).claim()
    assert not isinstance(refused.value, AlreadyRunning)
    assert path.read_text() == "someone's notes\n"


def test_a_path_too_long_for_a_unix_socket_is_refused_before_anything_is_made(folder):
    deep = folder / ("d" * 60)
    path = deep / ("s" * 60 + ".sock")
    assert len(os.fsencode(path)) > MAX_PATH_BYTES
    with pytest.raises(OSError, match="too long for a Unix socket.*--control-socket"):
        ControlServer(path, echo).claim()
    assert not deep.exists()


def test_bad_requests_are_answered_and_the_server_keeps_serving(folder, serve):
    path = folder / "c.sock"
    # The daemon's own controller answers unknown commands without touching a daemon.
    controller = Controller(None, reread_config=lambda: None, load_model=lambda c: None)
    serve(path, controller.handle)
    not_json, a_list, unknown, no_command = talk(
        path, b"{not json\n", b"[1, 2]\n", b'{"command": "dance"}\n', b'{"key": 1}\n')
    assert not_json == {"ok": False, "error": "not a JSON request"}
    assert a_list["ok"] is False and "JSON object" in a_list["error"]
    assert unknown["ok"] is False and "unknown command 'dance'" in unknown["error"]
    assert "status" in unknown["error"]  # names the commands there are
    assert no_command["ok"] is False and "no command given" in no_command["error"]
    assert ask(path, {"command": "dance"})["ok"] is False  # a new connection is served too


def test_a_request_too_long_is_refused(folder, serve):
    path = folder / "c.sock"
    serve(path)
    huge = json.dumps({"command": "x" * MAX_REQUEST_BYTES}).encode() + b"\n"
    (answer,) = talk(path, huge)
    assert answer == {"ok": False, "error": "request too long"}
    assert ask(path, {"command": "ping"})["ok"] is True


def test_a_handler_that_raises_is_an_internal_error_and_serving_goes_on(folder, serve, caplog):
    def handler(request: dict) -> dict:
        if request["command"] == "explode":
            raise RuntimeError("boom")
        return echo(request)

    path = folder / "c.sock"
    serve(path, handler)
    with caplog.at_level(logging.ERROR, logger="antiphon.daemon.control.socket_server"):
        answer = ask(path, {"command": "explode"})
    assert answer == {"ok": False, "error": "internal error: boom"}
    failed = [record for record in caplog.records if "'explode' failed" in record.getMessage()]
    assert failed and failed[0].exc_info is not None  # logged with its traceback
    assert ask(path, {"command": "ping"})["ok"] is True
    assert ask(path, {"command": "explode"})["ok"] is False  # and again: no lasting harm


def test_a_silent_client_does_not_hold_up_the_others(folder, serve):
    path = folder / "c.sock"
    serve(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as quiet:
        quiet.connect(str(path))  # connects and says nothing
        assert ask(path, {"command": "ping"}, timeout=5)["ok"] is True


def test_close_removes_the_socket_and_then_nobody_answers(folder):
    path = folder / "c.sock"
    server = ControlServer(path, echo)
    server.claim()
    server.start()
    assert ask(path, {"command": "ping"})["ok"] is True
    server.close()
    assert not path.exists()
    with pytest.raises(NoDaemon, match="no Antiphon daemon answers"):
        ask(path, {"command": "status"})


def test_close_leaves_a_socket_another_program_made_since(folder):
    path = folder / "c.sock"
    first = ControlServer(path, echo)
    first.claim()
    first.start()
    path.unlink()  # the file went away (a user cleaned up), and something else bound there
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    try:
        first.close()
        assert path.is_socket()  # not the first one's to remove
    finally:
        other.close()


def test_ask_where_nothing_is_raises_no_daemon(folder):
    with pytest.raises(NoDaemon) as missing:
        ask(folder / "absent.sock", {"command": "status"})
    assert isinstance(missing.value, OSError)  # the CLI catches OSError
    assert "antiphon run" in str(missing.value)


def test_start_before_claim_is_a_programming_error(folder):
    with pytest.raises(RuntimeError, match="claim"):
        ControlServer(folder / "c.sock", echo).start()
