"""The web page against what no browser of ours sends: requests that are not HTTP (a line
past the limit, a NUL, a header twice), connections that never finish their headers or
never send one, more of them than the page keeps, a model named by a path, takes whose
journal is hostile. Each gets a 4xx or is closed; the daemon's log gets one line, never
a traceback; the page goes on serving."""

from __future__ import annotations

import logging
import os
import socket
import time

import pytest
from web_client import get, post_json

from antiphon.daemon.control.web import connections


def raw(port: int, data: bytes) -> bytes:
    """Send bytes as they are; what came back (its first line)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(data)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def closed_by_server(client: socket.socket, within: float) -> bool:
    client.settimeout(within)
    try:
        return client.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


@pytest.mark.parametrize("request_bytes", [
    b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /api/sessions/x\x00/take.mid HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /api/status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /api/status HTTP/1.1\r\nX: " + b"b" * 10_000 + b"\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # TLS to a plain port
])
def test_a_request_that_is_not_http_is_refused_in_one_line_of_the_log(page, caplog,
                                                                    request_bytes):
    caplog.set_level(logging.DEBUG)
    first = raw(page.port, request_bytes)
    assert first.startswith(b"HTTP/1.") and b" 400 " in first or first == b""
    assert get(page.port, "/api/status", token=page.token)[0] == 200
    assert not [record for record in caplog.records if record.exc_info], caplog.text
    assert "Traceback" not in caplog.text


def test_connections_that_never_finish_their_headers_are_closed(serve, monkeypatch):
    monkeypatch.setattr(connections, "IDLE_SECONDS", 0.5)
    page = serve()
    slow = [socket.create_connection(("127.0.0.1", page.port)) for _ in range(3)]
    for client in slow[:2]:
        client.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0")
    assert all(closed_by_server(client, 5.0) for client in slow)
    assert get(page.port, "/api/status", token=page.token)[0] == 200
    for client in slow:
        client.close()


def test_past_the_most_connections_the_idle_ones_make_room(serve, monkeypatch):
    monkeypatch.setattr(connections, "MAX_CONNECTIONS", 8)
    page = serve()
    slow = []
    for _ in range(30):
        client = socket.create_connection(("127.0.0.1", page.port))
        client.sendall(b"GET /api/status HTTP/1.1\r\n")
        slow.append(client)
    time.sleep(0.3)
    assert get(page.port, "/api/status", token=page.token)[0] == 200
    still_open = sum(not closed_by_server(client, 0.2) for client in slow)
    assert still_open <= 8
    assert not closed_by_server(slow[-1], 0.05)  # the newest are kept, the oldest go
    for client in slow:
        client.close()


@pytest.mark.parametrize("name", ["/etc/passwd", "../../models/x.onnx", "~/x.onnx",
                                  "a\u0000b", "x" * 300, "nade-jsb/../default"])
def test_a_model_is_chosen_on_the_page_by_its_name_never_by_a_path(page, daemon, name):
    before = daemon.session
    for path, body in (("/api/model", {"name": name}),
                       ("/api/set", {"key": "model", "value": name}),
                       ("/api/set", {"key": "program_models", "value": f"default, {name}"})):
        status, answer = post_json(page.port, path, body, token=page.token)
        assert status == 400 and "model" in answer["error"], (path, answer)
    assert daemon.session is before and daemon.config.program_models is None


def test_a_model_of_the_list_is_still_chosen(page, daemon):
    status, answer = post_json(page.port, "/api/model", {"name": "transformer"},
                               token=page.token)
    assert status == 200 and daemon.config.model == "transformer", answer


def hand_made_take(folder, take_id: str, data: bytes) -> None:
    (folder / take_id).mkdir(parents=True, mode=0o700)
    os.chmod(folder, 0o700)
    (folder / take_id / "journal.jsonl").write_bytes(data)


HEADER = b'{"format":"antiphon-take-v1","started":"2026-12-07T10:00:00+00:00","pid":0}\n'


def test_a_take_too_long_to_read_in_the_daemon_is_refused_and_said(serve, tmp_path,
                                                                  monkeypatch):
    from antiphon.daemon.control.web import takes_routes

    monkeypatch.setattr(takes_routes, "MAX_JOURNAL_BYTES", 10_000)
    folder = tmp_path / "sessions"
    row = b'{"t":%d,"kind":"call","msg":[176,1,1]}\n'
    hand_made_take(folder, "2026-12-07_100000", HEADER + b"".join(row % n for n in range(400)))
    hand_made_take(folder, "2026-12-07_100001", HEADER + row % 1)
    page = serve(folder)
    for what in ("take.mid", "roll.png"):
        status, _, body = get(page.port, f"/api/sessions/2026-12-07_100000/{what}",
                              token=page.token)
        assert status == 413 and b"antiphon sessions" in body, body
    assert get(page.port, "/api/sessions/2026-12-07_100001/take.mid",
               token=page.token)[0] == 200
    status, _, body = get(page.port, "/api/sessions", token=page.token)
    assert status == 200 and b"2026-12-07_100000" in body  # listed all the same


def test_hostile_journals_on_the_page_are_4xx_and_never_stop_it(serve, tmp_path, caplog):
    folder = tmp_path / "sessions"
    hand_made_take(folder, "2026-12-07_100000", b"[" * 100_000 + b"\n")
    hand_made_take(folder, "2026-12-07_100001", HEADER + b"[" * 100_000 + b"\n" +
                   b'{"t":1e308,"kind":"call","msg":[255,1,1]}\n{"kind":"end","t":1e400}\n')
    page = serve(folder)
    status, _, body = get(page.port, "/api/sessions", token=page.token)
    assert status == 200 and b"2026-12-07_100001" in body
    assert b"2026-12-07_100000" not in body
    for what in ("take.mid", "roll.png"):
        assert get(page.port, f"/api/sessions/2026-12-07_100000/{what}",
                   token=page.token)[0] == 404
        assert get(page.port, f"/api/sessions/2026-12-07_100001/{what}",
                   token=page.token)[0] == 200
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_the_pages_cookie_sent_by_another_page_is_refused(page, daemon, site):
    """Cookies ignore ports: a page served on another port of localhost is same-site, and
    its requests here carry our cookie. The browser says where a request comes from."""
    cookie = {"Cookie": f"antiphon_token_{page.port}={page.token}"}
    for path in ("/api/status", "/events", "/api/sessions"):
        assert get(page.port, path, headers={**cookie, "Sec-Fetch-Site": site})[0] == 403
    status, _ = post_json(page.port, "/api/set", {"key": "temperature", "value": 0.5},
                          token=None, headers={**cookie, "Sec-Fetch-Site": site})
    assert status == 403 and daemon.config.temperature == 1.0
    for own in ("same-origin", "none"):
        assert get(page.port, "/api/status", headers={**cookie, "Sec-Fetch-Site": own})[0] \
            == 200
