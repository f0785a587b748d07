"""The control socket under abuse, over real Unix sockets and threads: requests nested too
deeply, lines without end, clients that trickle or crowd in, a full connection queue, a
path too long. Whatever comes, the client gets a one-line answer or error and the server
keeps serving.

Socket paths are short folders under XDG_RUNTIME_DIR (tests/conftest.py keeps it short).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
from daemon_helpers import connect, echo, talk

from antiphon.daemon.control.socket_server import (
    MAX_PATH_BYTES,
    MAX_REQUEST_BYTES,
    NoDaemon,
    ask,
)


@pytest.fixture
def thread_deaths(monkeypatch):
    """The exceptions that ended a thread during the test (each would print a traceback)."""
    deaths = []
    monkeypatch.setattr(threading, "excepthook", deaths.append)
    return deaths


def closed(reader) -> bool:
    """Whether the daemon closed the connection: the end of the stream, or a reset (Linux
    resets it when the daemon closes with bytes of ours unread, after what it sent)."""
    try:
        return reader.readline() == b""
    except ConnectionResetError:
        return True


def test_json_nested_too_deeply_is_answered_and_serving_goes_on(folder, serve, thread_deaths):
    path = folder / "c.sock"
    serve(path)
    deep_list = b"[" * 30000 + b"\n"
    deep_object = b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"\n"
    assert len(deep_object) < MAX_REQUEST_BYTES
    for request in (deep_list, deep_object):
        (answer,) = talk(path, request)
        assert answer == {"ok": False, "error": "not a JSON request: nested too deeply"}
    assert thread_deaths == []
    # Nesting a parser takes is still a request like any other.
    assert talk(path, b'{"command": "ping", "value": ' + b"[" * 50 + b"]" * 50 + b"}\n"
                )[0]["ok"] is True
    assert ask(path, {"command": "ping"})["ok"] is True


def test_any_failure_in_a_client_thread_is_one_log_line_and_an_answer(
        folder, serve, thread_deaths, caplog):
    path = folder / "c.sock"
    serve(path, lambda request: {"ok": True, "values": {1, 2}})  # a set: not JSON
    with caplog.at_level(logging.ERROR, logger="antiphon.daemon.control.socket_server"):
        answer = ask(path, {"command": "status"})
    assert answer["ok"] is False
    assert answer["error"] == "internal error: Object of type set is not JSON serializable"
    (logged,) = caplog.records
    assert logged.getMessage() == ("control connection failed: TypeError: "
                                   "Object of type set is not JSON serializable")
    assert logged.exc_info is None  # one line, not a traceback
    assert thread_deaths == []
    assert ask(path, {"command": "status"})["ok"] is False  # and again: still served


def test_a_line_without_end_is_refused_near_the_limit_not_read_whole(folder, serve):
    path = folder / "c.sock"
    serve(path)
    offered = 16 * 1024 * 1024
    taken = 0
    with connect(path) as client:
        block = b"x" * 65536
        try:
            while taken < offered:
                taken += client.send(block)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused: the daemon stopped reading
        answer = json.loads(client.makefile("rb").readline())
    assert answer == {"ok": False, "error": "request too long"}
    # What the daemon read, plus what the kernel's socket buffers held for it: far from all.
    assert taken < 4 * 1024 * 1024
    assert ask(path, {"command": "ping"})["ok"] is True


def test_ask_with_a_request_too_long_gets_the_refusal_not_a_broken_pipe(folder, serve):
    path = folder / "c.sock"
    serve(path)
    answer = ask(path, {"command": "x" * (8 * MAX_REQUEST_BYTES)})
    assert answer == {"ok": False, "error": "request too long"}


def test_a_client_trickling_a_request_is_cut_off_at_the_deadline(folder, serve):
    path = folder / "c.sock"
    serve(path, request_seconds=1.0)
    began = time.monotonic()
    with connect(path) as client:
        reader = client.makefile("rb")
        client.sendall(b'{"command": "ping"')
        answered = threading.Event()

        def trickle() -> None:  # a byte every 0.2 s: never idle long, never done
            while not answered.wait(0.2):
                try:
                    client.sendall(b" ")
                except OSError:
                    return

        trickling = threading.Thread(target=trickle, daemon=True)
        trickling.start()
        answer = json.loads(reader.readline())
        answered.set()
        assert closed(reader)
        trickling.join(5)
    assert answer["ok"] is False
    assert answer["error"].startswith("request not complete within 1 s")
    assert time.monotonic() - began < 5.0
    assert ask(path, {"command": "ping"})["ok"] is True


def test_the_deadline_starts_again_after_each_answer(folder, serve):
    path = folder / "c.sock"
    serve(path, request_seconds=2.0)
    with connect(path) as client:
        reader = client.makefile("rb")
        for _ in range(3):  # 3 requests, each 1.2 s after the last answer: 3.6 s in all
            time.sleep(1.2)
            client.sendall(b'{"command": "ping"}\n')
            assert json.loads(reader.readline())["ok"] is True


def test_a_learn_waits_past_the_request_deadline_for_its_answer(folder, serve):
    """The wait for an answer is the server's: only sending the request is timed."""
    def learn(request: dict) -> dict:
        if request["command"] == "learn":
            time.sleep(2.0)  # no knob turned yet
            return {"ok": True, "learned": {"cc": 21}}
        return echo(request)

    path = folder / "c.sock"
    serve(path, learn, request_seconds=0.5)
    assert talk(path, b'{"command": "learn"}\n', b'{"command": "ping"}\n') == [
        {"ok": True, "learned": {"cc": 21}},
        {"ok": True, "echo": {"command": "ping"}},
    ]


def test_the_client_over_the_cap_is_refused_and_the_others_are_served(folder, serve):
    path = folder / "c.sock"
    serve(path, max_clients=2)
    first, second = connect(path), connect(path)
    try:
        for held in (first, second):  # each holds a slot: it is answered
            held.sendall(b'{"command": "ping"}\n')
            assert json.loads(held.makefile("rb").readline())["ok"] is True
        over = ask(path, {"command": "ping"}, timeout=10)
        assert over == {"ok": False, "error": "too many control clients at once "
                        "(at most 2): try again in a moment"}
        first.close()  # a slot comes free
        assert ask(path, {"command": "ping"}, timeout=10)["ok"] is True
    finally:
        first.close()
        second.close()


def burst(path, clients: int, command: str = "ping") -> list[str]:
    """`clients` threads ask at once; the failures, as text."""
    start = threading.Barrier(clients)
    failures: list[str] = []

    def client(number: int) -> None:
        start.wait()
        try:
            answer = ask(path, {"command": command, "n": number}, timeout=60)
            if answer.get("ok") is not True or answer.get("n", number) != number:
                failures.append(repr(answer))
        except OSError as err:
            failures.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return failures


def test_a_hundred_clients_at_once_are_all_answered(folder, serve):
    path = folder / "c.sock"
    serve(path)
    assert burst(path, 100) == []


@pytest.mark.parametrize("answer_seconds", [0.05, 0.2])
def test_two_hundred_status_requests_at_once_are_all_answered(folder, serve,
                                                              answer_seconds):
    """More clients than slots and waiting places together, and (at 0.2 s an answer) a
    burst that lasts longer than the second a client waits for a slot: the served ones make
    progress, so every one waits its turn and is answered."""
    def status(request: dict) -> dict:
        time.sleep(answer_seconds)  # a status on a loaded machine
        return {"ok": True, "status": {"pid": 4242}, "n": request.get("n")}

    path = folder / "c.sock"
    serve(path, status)
    assert burst(path, 200, "status") == []


def test_ask_on_a_queue_that_stays_full_says_so_in_one_line(folder):
    path = folder / "stuck.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(0)  # as a daemon that accepts nobody: its queue fills at once
    queued = []
    try:
        while True:
            waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            waiting.setblocking(False)
            try:
                waiting.connect(str(path))
            except BlockingIOError:
                waiting.close()
                break
            queued.append(waiting)
        began = time.monotonic()
        with pytest.raises(OSError) as refused:
            ask(path, {"command": "status"}, timeout=0.5)
        assert time.monotonic() - began < 3.0
    finally:
        for waiting in queued:
            waiting.close()
        listener.close()
    assert type(refused.value) is OSError  # not NoDaemon: something is there
    assert str(refused.value) == (f"the daemon on {path} takes no more connections (its "
                                  "queue stayed full for 0.5 s: busy or stuck); try again")


def test_ask_on_a_path_too_long_names_the_path_and_the_limit(folder):
    path = folder / ("d" * 60) / ("s" * 60 + ".sock")
    with pytest.raises(OSError) as refused:
        ask(path, {"command": "status"})
    assert not isinstance(refused.value, NoDaemon)
    message = str(refused.value)
    assert str(path) in message
    assert f"at most {MAX_PATH_BYTES}" in message
    assert "give a shorter --control-socket" in message
