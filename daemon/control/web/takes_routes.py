"""The web page's recorded takes: the list, each take's .mid and its piano-roll picture.

The record room reads and draws them (daemon/record/: `list_takes`, `read_take`,
`take_to_midi`, `take_roll_notes` and `drawn_apart`, which draws in a process of its own:
matplotlib would keep the interpreter lock from the scheduler while it draws); they are
imported in the handlers, not at module level. All of it is file and CPU work: it runs on
an executor of its own (one worker: one picture drawn at a time), never on the server's
event loop.
Pictures of finished takes are kept (a few), so the list drawn again costs nothing.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from antiphon.daemon.record.takes import TakeTooLong

TAKE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")  # a name, never a path
PICTURES_KEPT = 32
# A take is read whole to be made a .mid or drawn, in the daemon's own process: one longer
# than this (half an hour of dense controls; ~10x its size in memory once read, a second
# or two of the daemon's CPU to draw) is left to
# `antiphon sessions export|show`, which read it in a process of their own.
MAX_JOURNAL_BYTES = 4 * 1024 * 1024
Result = TypeVar("Result")


class TakesRoutes:
    """GET /api/sessions, /api/sessions/{id}/take.mid and /api/sessions/{id}/roll.png."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._work = ThreadPoolExecutor(1, thread_name_prefix="antiphon-web-takes")
        self._pictures: OrderedDict[str, bytes] = OrderedDict()  # finished takes' PNGs

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/sessions", self._list)
        router.add_get("/api/sessions/{id}/take.mid", self._midi)
        router.add_get("/api/sessions/{id}/roll.png", self._roll)

    def close(self) -> None:
        self._work.shutdown(wait=True, cancel_futures=True)

    async def _run(self, work: Callable[..., Result], *args: Any) -> Result:
        return await asyncio.get_running_loop().run_in_executor(self._work, work, *args)

    # -- handlers --------------------------------------------------------------------------
    async def _list(self, request: web.Request) -> web.Response:
        if self.folder is None:
            return web.json_response({"recording": False, "takes": []})
        try:
            takes = await self._run(self._summaries)
        except OSError as err:
            return _error(500, f"the takes folder cannot be read: {err}")
        return web.json_response({"recording": True, "takes": takes})

    async def _midi(self, request: web.Request) -> web.Response:
        take_id = self._checked_id(request)
        body = await self._take_work(self._midi_bytes, take_id)
        return web.Response(body=body, content_type="audio/midi", headers={
            "Content-Disposition": f'attachment; filename="antiphon-{take_id}.mid"'})

    async def _roll(self, request: web.Request) -> web.Response:
        take_id = self._checked_id(request)
        body = await self._take_work(self._roll_png, take_id)
        finished = take_id in self._pictures  # kept: it will not change
        return web.Response(body=body, content_type="image/png", headers={
            "Cache-Control": "private, max-age=3600" if finished else "no-store"})

    def _checked_id(self, request: web.Request) -> str:
        take_id = request.match_info["id"]
        if self.folder is None:
            raise _http(404, "the recorder is off (--no-record): no takes")
        if not TAKE_ID.fullmatch(take_id):
            raise _http(404, f"no take {take_id!r}: a take's id is a name like "
                        "2026-12-07_145503")
        return take_id

    async def _take_work(self, work: Callable[[str], bytes], take_id: str) -> bytes:
        try:
            return await self._run(work, take_id)
        except ImportError as err:  # matplotlib draws the picture: an optional package
            raise _http(501, f"the piano-roll picture needs matplotlib ({err.name or err} "
                        "is missing): pip install matplotlib") from None
        except (KeyError, ValueError) as err:  # read_take's unknown or unsafe id
            if isinstance(err, TakeTooLong):
                raise _http(413, f"{_said(err)}: too long to make here; `antiphon sessions "
                            f"export {take_id}` or `antiphon sessions show {take_id}` "
                            "makes it") from None
            raise _http(404, _said(err)) from None
        except OSError as err:
            raise _http(500, f"take {take_id} cannot be read: {err}") from None

    # -- the work (on the executor) --------------------------------------------------------
    def _summaries(self) -> list[dict]:
        from antiphon.daemon.record.takes import list_takes

        assert self.folder is not None
        return [summary_json(summary) for summary in list_takes(self.folder)]

    def _midi_bytes(self, take_id: str) -> bytes:
        from antiphon.daemon.record.midi_export import take_to_midi
        from antiphon.daemon.record.takes import read_take

        assert self.folder is not None
        out = io.BytesIO()
        take_to_midi(read_take(self.folder, take_id, max_bytes=MAX_JOURNAL_BYTES)).save(
            file=out)
        return out.getvalue()

    def _roll_png(self, take_id: str) -> bytes:
        from antiphon.daemon.record.roll_picture import drawn_apart, take_roll_notes
        from antiphon.daemon.record.takes import read_take

        assert self.folder is not None
        if take_id in self._pictures:
            self._pictures.move_to_end(take_id)
            return self._pictures[take_id]
        take = read_take(self.folder, take_id, max_bytes=MAX_JOURNAL_BYTES)
        call, answer = take_roll_notes(take)
        picture = drawn_apart(call, answer, title=take_id)  # never in the playing process
        if take.finished:  # a take still growing is drawn again
            self._pictures[take_id] = picture
            while len(self._pictures) > PICTURES_KEPT:
                self._pictures.popitem(last=False)
        return picture


def summary_json(summary: Any) -> dict:
    """A TakeSummary as the page lists it."""
    started = summary.started
    return {"id": summary.id,
            "started": started.isoformat(timespec="seconds") if started else None,
            "seconds": round(float(summary.seconds), 1), "exchanges": summary.exchanges,
            "models": list(summary.models), "finished": bool(summary.finished)}


def _said(err: Exception) -> str:
    """An exception's message (a KeyError's str() is its repr)."""
    return str(err.args[0]) if err.args else type(err).__name__


def _error(status: int, why: str) -> web.Response:
    return web.json_response({"ok": False, "error": why}, status=status)


def _http(status: int, why: str) -> web.HTTPException:
    if status == 413:  # the take, not the request: aiohttp's class wants the sizes
        return web.HTTPRequestEntityTooLarge(0, text=json.dumps({"ok": False, "error": why}),
                                             content_type="application/json")
    kind = {404: web.HTTPNotFound, 500: web.HTTPInternalServerError,
            501: web.HTTPNotImplemented}[status]
    return kind(text=json.dumps({"ok": False, "error": why}), content_type="application/json")
