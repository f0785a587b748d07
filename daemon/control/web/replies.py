"""What the web page's handlers share: the replies they give (the Controller's answer, a
403, a 400 as JSON), the POST body read as a JSON object, and the models the page may
choose.

A model is chosen on the page by its name, as `model_names()` lists them (the user's and
the shipped ones): never by a path. `--model` and the control socket take a
path to an .onnx file too, but a page is one a browser holds, whose address (with its
token) may be in a history or a screenshot; it need not be able to load any file of the
user's, nor to learn which exist.
"""

from __future__ import annotations

import errno
import json
import os
from typing import Any

from aiohttp import web

HOST = "127.0.0.1"
# The options whose values name models: each name must be one of model_names().
MODEL_OPTIONS = ("model", "program_models")
MODEL_SUFFIX = ".onnx"


def cannot_listen(port: int, err: OSError) -> str:
    why = ("the port is in use (by another program, or another antiphon): choose another "
           "one with --web-port" if err.errno == errno.EADDRINUSE
           else os.strerror(err.errno) if err.errno else str(err))
    return f"the web page cannot listen on {HOST}:{port}: {why}"


def model_names() -> list[str]:
    """Every name `--model` takes, the user's models first (as config/models.py finds
    them; a user's model hides a shipped one of the same name)."""
    from antiphon.daemon.config.models import all_models

    return list(dict.fromkeys(model.name for model in all_models()))


def answer_reply(answer: dict) -> web.Response:
    """The Controller's answer as it is: 200 when done, 400 when refused (it says why)."""
    return web.json_response(answer, status=200 if answer.get("ok") else 400)


def forbidden(why: str) -> web.Response:
    return web.Response(status=403, text=f"403 Forbidden: {why}\n")


def bad_request(why: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"ok": False, "error": why}),
                              content_type="application/json")


async def json_body(request: web.Request) -> dict:
    """A POST's JSON object; a page must send it as application/json (a form from another
    site cannot, without asking first)."""
    if request.content_type != "application/json":
        raise bad_request("send the request as application/json")
    try:
        body = await request.json()
    except ValueError as err:
        raise bad_request(f"not JSON: {err}") from None
    if not isinstance(body, dict):
        raise bad_request("send a JSON object")
    return body


def model_by_path(key: str, value: Any) -> str | None:
    """Why `value` of option `key` is refused on the page (a model named by a path: a
    folder in it, a leading ~ or ., an .onnx file), else None. A name the daemon does
    not know goes on to the Controller, which says so."""
    if key not in MODEL_OPTIONS or value is None:
        return None
    names = [value] if key == "model" else str(value).split(",")
    for name in (str(name).strip() for name in names):
        if any(mark in name for mark in ("/", "\\", "\0")) or name.startswith(("~", ".")) \
                or name.lower().endswith(MODEL_SUFFIX):
            return (f"the page chooses a model by its name ({', '.join(model_names())}), "
                    f"not by a path like {name[:80]!r}: a file is named with --model")
    return None
