"""Who may ask the web page: the token (query, header or the page's cookie), a Host
header naming 127.0.0.1 or localhost on its port, changes from the page's own origin; the
page and its files served to whoever has the token; the port it cannot take, said."""

from __future__ import annotations

import socket

import pytest
from web_client import EventStream, get, post_json, request

from antiphon.daemon.control.web.server import WebPage

ROUTES = ["/", "/static/roll.js", "/static/style.css", "/events", "/api/status",
          "/api/models", "/api/sessions", "/api/sessions/2026-12-07_145503/take.mid",
          "/api/sessions/2026-12-07_145503/roll.png", "/nothing-here"]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_is_forbidden_without_the_token_or_with_a_wrong_one(page, path):
    assert get(page.port, path)[0] == 403
    assert get(page.port, path, token="not-" + page.token)[0] == 403
    assert get(page.port, f"{path}?token=x{page.token}")[0] == 403
    cookie = {"Cookie": f"antiphon_token_{page.port}=wrong"}
    assert get(page.port, path, headers=cookie)[0] == 403


def test_a_change_without_the_token_changes_nothing(page, daemon):
    status, _ = post_json(page.port, "/api/set", {"key": "temperature", "value": 0.5},
                          token=None)
    assert status == 403 and daemon.config.temperature == 1.0


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1",
                                  "127.0.0.1:1", "localhost:1", "[::1]:{port}",
                                  "0.0.0.0:{port}", ""])
def test_a_host_header_not_naming_us_is_forbidden_even_with_the_token(page, host):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: its Host says so."""
    status, _, body = get(page.port, "/api/status", token=page.token,
                          host=host.format(port=page.port))
    assert status == 403 and b"127.0.0.1" in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}"])
def test_our_own_host_names_are_served(page, host):
    assert get(page.port, "/api/status", token=page.token,
               host=host.format(port=page.port))[0] == 200


def test_a_change_from_another_origin_is_forbidden(page, daemon):
    status, _ = post_json(page.port, "/api/set", {"key": "temperature", "value": 0.5},
                          token=page.token, headers={"Origin": "http://evil.example"})
    assert status == 403 and daemon.config.temperature == 1.0
    status, _ = post_json(page.port, "/api/set", {"key": "temperature", "value": 0.5},
                          token=page.token, headers={"Origin": f"http://localhost:{page.port}"})
    assert status == 200 and daemon.config.temperature == 0.5


def test_a_change_sent_as_a_form_is_refused(page, daemon):
    """A form on another site can post text/plain without asking: only JSON is taken."""
    status, _, body = request(page.port, "POST", "/api/set", token=page.token,
                              body=b'{"key": "temperature", "value": 0.5}',
                              headers={"Content-Type": "text/plain"})
    assert status == 400 and b"application/json" in body and daemon.config.temperature == 1.0


def test_the_page_is_served_with_the_token_and_gives_a_cookie_for_its_files(page):
    assert page.url == f"http://127.0.0.1:{page.port}/?token={page.token}"
    status, headers, body = get(page.port, f"/?token={page.token}")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="/static/roll.js"' in body and b"<canvas" in body
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"antiphon_token_{page.port}={page.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    with_cookie = {"Cookie": f"antiphon_token_{page.port}={page.token}"}
    for name, kind in [("roll.js", "javascript"), ("page.js", "javascript"),
                       ("style.css", "text/css")]:
        status, headers, body = get(page.port, f"/static/{name}", headers=with_cookie)
        assert status == 200 and kind in headers["Content-Type"] and len(body) > 500


def test_nothing_outside_the_static_folder_is_served(page):
    for path in ["/static/../server.py", "/static/%2e%2e/server.py", "/static/",
                 "/static/missing.js"]:
        status, _, body = get(page.port, path, token=page.token)
        assert status in (403, 404) and b"WebPage" not in body, path


def test_the_page_loads_nothing_from_elsewhere():
    from antiphon.daemon.control.web.server import STATIC

    for file in STATIC.iterdir():
        text = file.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, file


def test_a_port_taken_is_said_and_leaves_nothing_running(controller, live):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        page = WebPage(controller, live, None, port)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}: the port is in use"):
            page.start()
    page.stop()  # harmless after a failed start


def test_a_token_given_is_used_and_one_made_is_long_and_new(controller, live):
    assert WebPage(controller, live, None, 0, token="given").token == "given"
    made = {WebPage(controller, live, None, 0).token for _ in range(3)}
    assert len(made) == 3 and all(len(token) >= 32 for token in made)


def test_a_page_restarted_at_once_gets_its_port_back(controller, live):
    """The streams the page closed as it stopped leave TIME_WAIT behind on its port."""
    first = WebPage(controller, live, None, 0)
    first.start()
    port = first.port
    stream = EventStream(port, first.token)
    stream.wait_for("history")
    first.stop()
    stream.close()
    again = WebPage(controller, live, None, port)
    again.start()
    try:
        assert get(port, "/api/status", token=again.token)[0] == 200
        assert get(port, "/api/status", token=first.token)[0] == 403  # a new token
    finally:
        again.stop()
