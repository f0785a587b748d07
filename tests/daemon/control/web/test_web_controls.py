"""The web page's controls go through a real Controller: a setting changes the steered
daemon's config, a bad value gets the Controller's refusal (and changes nothing), the
model is swapped or refused, and a malformed request is told what to send."""

from __future__ import annotations

import threading
import time

import pytest
from web_client import EventStream, get, post_json, request

from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.web.server import WebPage
from antiphon.daemon.record.take_events import TakeEvent


def test_post_set_changes_the_daemon_config(page, daemon):
    status, answer = post_json(page.port, "/api/set", {"key": "temperature", "value": 0.7},
                               token=page.token)
    assert status == 200 and answer == {"ok": True, "key": "temperature", "value": 0.7}
    assert daemon.config.temperature == 0.7
    status, answer = post_json(page.port, "/api/set", {"key": "scale", "value": "D dorian"},
                               token=page.token)
    assert status == 200 and daemon.config.scale == "D dorian"
    status, _ = post_json(page.port, "/api/set", {"key": "top-p", "value": "0.9"},
                          token=page.token)
    assert status == 200 and daemon.config.top_p == 0.9


@pytest.mark.parametrize(("key", "value", "said"), [
    ("temperature", -3, "must be > 0"),
    ("scale", "H lydian", "scale"),
    ("texture", "noise", "texture"),
    ("model_dir", "/tmp", "no option"),
    ("in_port", "other", "read once, at start"),
])
def test_a_bad_value_gets_the_controllers_refusal_and_changes_nothing(page, daemon, key,
                                                                      value, said):
    before = daemon.config
    status, answer = post_json(page.port, "/api/set", {"key": key, "value": value},
                               token=page.token)
    assert status == 400 and answer["ok"] is False and said in answer["error"]
    assert daemon.config == before


@pytest.mark.parametrize("body", [{"value": 1}, {"key": 3, "value": 1}, [1, 2],
                                  {"key": "temperature", "value": [0.5]}])
def test_a_malformed_request_is_told_what_to_send(page, daemon, body):
    status, answer = post_json(page.port, "/api/set", body, token=page.token)
    assert status == 400 and answer["ok"] is False and answer["error"]
    assert daemon.config.temperature == 1.0


def test_a_body_that_is_not_json_or_too_big_is_refused(page):
    status, _, body = request(page.port, "POST", "/api/set", token=page.token, body=b"{nope",
                              headers={"Content-Type": "application/json"})
    assert status == 400 and b"not JSON" in body
    status, _, _ = request(page.port, "POST", "/api/set", token=page.token,
                           body=b'{"key": "' + b"x" * 100_000 + b'"}',
                           headers={"Content-Type": "application/json"})
    assert status == 413


def test_the_model_is_swapped_or_refused_through_the_controller(page, daemon):
    status, answer = post_json(page.port, "/api/model", {"name": "transformer"},
                               token=page.token)
    assert status == 200 and answer["model"]["name"] == "transformer"
    assert daemon.config.model == "transformer"
    status, answer = post_json(page.port, "/api/model", {"name": "no-such-model"},
                               token=page.token)
    assert status == 400 and "the old one keeps playing" in answer["error"]
    assert daemon.config.model == "transformer"


def test_status_and_the_model_list(page):
    status, _, body = get(page.port, "/api/status", token=page.token)
    assert status == 200 and b'"temperature": 1.0' in body
    status, _, body = get(page.port, "/api/models", token=page.token)
    assert status == 200 and b'"default"' in body  # the shipped models, as --model names them


def test_the_status_and_the_stream_go_on_while_a_model_loads(daemon, live):
    """A model loads on the caller's thread, for seconds: the page's own status and its
    stream do not wait for it."""
    loading, release = threading.Event(), threading.Event()

    def slow_load(config):  # noqa: ANN001, ANN202
        loading.set()
        release.wait(10)
        return daemon.session

    page = WebPage(Controller(daemon, lambda: daemon.config, slow_load), live, None, 0)
    page.start()
    swap = threading.Thread(target=post_json, args=(page.port, "/api/model",
                                                    {"name": "transformer"}),
                            kwargs={"token": page.token}, name="test model swap")
    stream = EventStream(page.port, page.token)
    try:
        swap.start()
        assert loading.wait(5)
        asked = time.perf_counter()
        assert get(page.port, "/api/status", token=page.token)[0] == 200
        assert time.perf_counter() - asked < 1
        stream.wait_for("status", timeout=3)
        live.take_events([TakeEvent(1.0, "call", (0x90, 60, 100))])
        assert stream.wait_for("take", timeout=1)[0][0]["t"] == 1.0
    finally:
        release.set()
        swap.join(10)
        stream.close()
        page.stop()
    assert daemon.config.model == "transformer"
