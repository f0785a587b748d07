"""The local web page's server: aiohttp on a thread of its own, 127.0.0.1 only.

`WebPage` serves the page and its static files, a stream of server-sent events (each
take event as the feed hands it to `LiveRoll`, and the daemon's status once a second),
the live settings and the model through the same `Controller` as the control socket, and
the recorded takes (a list, each take's .mid and its piano-roll picture).

Who may ask: the page is for the user at this machine. The server binds 127.0.0.1 only;
every request needs the token of the address `antiphon run --web` prints (as `?token=`,
the `X-Antiphon-Token` header, or the cookie the page gets with it) and a Host header
that names 127.0.0.1 or localhost on our port (a DNS-rebinding page names its own host);
a POST that comes from another origin is refused too, and so is the cookie when the
browser says another page sent it (Sec-Fetch-Site: cookies ignore ports, so a page on
another port of localhost would send it). Any local program may connect, so
connections are watched (connections.py): few at once, none idle for long, and a request
that is not HTTP costs the log one line, never a traceback. A model is chosen here by its
name, never by a path (replies.py).

What it never does: run a Controller request or draw a picture on its event loop (they
run in executors of their own, so a model load never stalls the stream), or wait for a
browser. Each browser gets a bounded queue of what is to be sent to it (browsers.py); one
that falls that far behind (it stopped reading) is dropped, and the others go on.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from aiohttp import web

from antiphon.daemon.control.web.browsers import STREAM_SEND_BUFFER, Browser, broadcast, sse
from antiphon.daemon.control.web.connections import ConnectionWatch, ServerLog
from antiphon.daemon.control.web.live import LiveRoll, Rows
from antiphon.daemon.control.web.replies import (
    HOST,
    answer_reply,
    bad_request,
    cannot_listen,
    forbidden,
    json_body,
    model_by_path,
    model_names,
)
from antiphon.daemon.control.web.takes_routes import TakesRoutes

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_QUERY = "token"
TOKEN_HEADER = "X-Antiphon-Token"
MAX_BROWSERS = 16
STATUS_SECONDS = 1.0
REQUEST_BYTES = 64 * 1024  # a POST body: a setting's name and value
STOP_SECONDS = 2.0  # how long a stop lets the handlers end before they are cut
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Handles(Protocol):
    """What the page asks of the daemon: control/controller.py's Controller."""

    def handle(self, request: dict) -> dict: ...


class WebPage:
    """The web page of `antiphon run --web`, served from thread "antiphon-web"."""

    def __init__(self, controller: Handles, live: LiveRoll, takes_folder: Path | None,
                 port: int, *, token: str | None = None) -> None:
        self.controller = controller
        self.live = live
        self.takes_folder = takes_folder
        self.port = port  # 0: any free port; the one taken once started
        self.token = token or secrets.token_urlsafe(24)
        self.dropped = 0  # browsers cut off for falling behind
        self._browsers: set[Browser] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        # Changes wait for each other in the Controller; the status, on a worker of its own,
        # never waits behind them (a model loading).
        self._control = ThreadPoolExecutor(2, thread_name_prefix="antiphon-web-control")
        self._status_work = ThreadPoolExecutor(1, thread_name_prefix="antiphon-web-status")
        self._takes = TakesRoutes(takes_folder)
        self._watch: ConnectionWatch | None = None
        self._listener: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?{TOKEN_QUERY}={self.token}"

    @property
    def browsers(self) -> int:
        """How many pages are connected to the event stream now."""
        return len(self._browsers)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Listen, on a thread of its own; returns once it does. OSError (with a message
        that says which port) when it cannot."""
        ready = threading.Event()
        failed: list[Exception] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failed),
                                        name="antiphon-web", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            self._thread = None
            self._shut_executors()
            raise failed[0]
        log.info("the web page listens on http://%s:%d/", HOST, self.port)  # not the token

    def stop(self) -> None:
        """Close every stream, stop listening, and join the thread and the executors."""
        self.live.detach()
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is not None and loop is not None and stopping is not None:
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # its loop already ended
                pass
            thread.join()
        self._thread = None
        self._shut_executors()

    def _shut_executors(self) -> None:
        self._control.shutdown(wait=True, cancel_futures=True)
        self._status_work.shutdown(wait=True, cancel_futures=True)
        self._takes.close()

    def _run(self, ready: threading.Event, failed: list[Exception]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                runner = loop.run_until_complete(self._open(loop))
            except OSError as err:
                failed.append(OSError(err.errno, cannot_listen(self.port, err)))
                return
            except Exception as err:  # said by start(), on the caller's thread
                failed.append(err)
                return
            finally:
                ready.set()
            loop.run_until_complete(self._serve(runner))
        except Exception:  # the page is an extra: whatever ends it, playing goes on
            log.exception("the web page stopped")
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> web.AppRunner:
        self._loop = loop
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._guard], client_max_size=REQUEST_BYTES)
        app.on_response_prepare.append(self._response_headers)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
        app.router.add_get("/events", self._events)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/models", self._models)
        app.router.add_post("/api/set", self._set)
        app.router.add_post("/api/model", self._model)
        self._takes.add_routes(app.router)
        runner = web.AppRunner(app, handle_signals=False, access_log=None,
                               shutdown_timeout=STOP_SECONDS, logger=ServerLog())
        await runner.setup()
        assert runner.server is not None
        self._watch = ConnectionWatch(runner.server)  # few connections, none idle long
        try:
            # SO_REUSEADDR: a daemon restarted at once takes its port back from the last
            # connections' TIME_WAIT; two listeners still cannot share it.
            self._listener = await loop.create_server(self._watch, HOST, self.port,
                                                      reuse_address=True)
        except BaseException:
            await runner.cleanup()
            raise
        self.port = self._listener.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.live.attach(loop, self._take_rows)
        return runner

    async def _serve(self, runner: web.AppRunner) -> None:
        assert self._watch is not None and self._listener is not None
        status = asyncio.ensure_future(self._status_loop())
        sweep = asyncio.ensure_future(self._watch.sweep())
        try:
            assert self._stopping is not None
            await self._stopping.wait()
        finally:
            self._listener.close()
            status.cancel()
            sweep.cancel()
            for browser in list(self._browsers):
                browser.cut()
            await asyncio.gather(status, sweep, return_exceptions=True)
            await runner.cleanup()

    # -- who may ask -----------------------------------------------------------------------
    def _hosts(self) -> tuple[str, str]:
        return f"{HOST}:{self.port}", f"localhost:{self.port}"

    def _cookie(self) -> str:
        return f"antiphon_token_{self.port}"  # cookies ignore ports: one per daemon

    def _token_given(self, request: web.Request) -> str:
        return (request.query.get(TOKEN_QUERY) or request.headers.get(TOKEN_HEADER)
                or request.cookies.get(self._cookie()) or "")

    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        watch, connection = self._watch, request.protocol
        if watch is not None:
            watch.begin(connection)  # a request in hand: not idle
        try:
            return await self._checked(request, handler)
        finally:
            if watch is not None:
                watch.end(connection)

    async def _checked(self, request: web.Request, handler) -> web.StreamResponse:
        if request.headers.get("Host", "") not in self._hosts():
            return forbidden("this page answers only to http://127.0.0.1 and "
                              "http://localhost on its own port")
        if not hmac.compare_digest(self._token_given(request).encode(), self.token.encode()):
            return forbidden("open the address antiphon printed when it started (it holds "
                             "the page's token)")
        if request.headers.get("Sec-Fetch-Site") in ("same-site", "cross-site") and \
                request.query.get(TOKEN_QUERY) is None and TOKEN_HEADER not in request.headers:
            # Our cookie, sent by another page: cookies ignore ports, so a page served on
            # another port of localhost is same-site and its requests carry it.
            return forbidden("this page answers only to itself")
        origin = request.headers.get("Origin")
        if request.method != "GET" and origin is not None and \
                origin not in {f"http://{host}" for host in self._hosts()}:
            return forbidden("a change must come from the page itself")
        response = await handler(request)
        if request.query.get(TOKEN_QUERY) == self.token and not response.prepared:
            # The page's own requests (its scripts, its stream, its pictures) carry this.
            response.set_cookie(self._cookie(), self.token, httponly=True, samesite="Strict",
                                path="/")
        return response

    async def _response_headers(self, request: web.Request,
                                response: web.StreamResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)

    # -- the page and its stream -----------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    def _take_rows(self, rows: Rows, number: int) -> None:
        """A batch from the feed (on the loop, by call_soon_threadsafe): to every page
        whose history did not hold it already."""
        if any(browser.has_batches_to < number for browser in self._browsers):
            self._broadcast(sse("take", rows), number)  # none open: not even encoded

    def _broadcast(self, message: bytes, number: int | None = None) -> None:
        self.dropped += broadcast(self._browsers, message, number)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if len(self._browsers) >= MAX_BROWSERS:
            raise web.HTTPServiceUnavailable(text=f"at most {MAX_BROWSERS} pages at once")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "X-Accel-Buffering": "no"})
        connection = request.transport.get_extra_info("socket") if request.transport else None
        if connection is not None:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
        await response.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        # What the page draws first, then every batch after those it holds: none missed
        # (a batch kept later is pushed to this loop later), none twice (one kept before,
        # whose push is still on its way, is skipped by its number).
        rows, held = self.live.snapshot()
        browser = Browser(task, request.transport, held)
        self._browsers.add(browser)
        first = b"retry: 2000\n\n" + sse("history", {"t": self.live.take_seconds(),
                                                    "rows": rows})
        try:
            await response.write(first)
            while True:
                await response.write(await browser.queue.get())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._browsers.discard(browser)
        return response

    async def _status_loop(self) -> None:
        """The daemon's status to every page once a second (only while one is open)."""
        said = False
        while True:
            if self._browsers:
                try:
                    self._broadcast(sse("status", await self._brief_status()))
                except Exception as err:  # the stream goes on without it
                    if not said:
                        said = True
                        log.warning("the web page's status failed: %s: %s",
                                    type(err).__name__, err)
            await asyncio.sleep(STATUS_SECONDS)

    async def _brief_status(self) -> dict:
        answer = await self._ask({"command": "status"}, self._status_work)
        status = answer.get("status") or {}
        brief = {key: status.get(key) for key in ("mode", "model", "tempo", "settings",
                                                  "counters") if key in status}
        return {"ok": answer.get("ok", False), "t": self.live.take_seconds(), **brief} | (
            {"error": answer["error"]} if "error" in answer else {})

    # -- the controls ----------------------------------------------------------------------
    async def _ask(self, request: dict, executor: ThreadPoolExecutor | None = None) -> dict:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor or self._control,
                                              self.controller.handle, request)
        except RuntimeError as err:  # the executor shut down: the daemon is stopping
            return {"ok": False, "error": f"the daemon is stopping ({err})"}

    async def _status(self, request: web.Request) -> web.Response:
        return answer_reply(await self._ask({"command": "status"}, self._status_work))

    async def _models(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        return web.json_response(await loop.run_in_executor(self._control, model_names))

    async def _set(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        key, value = body.get("key"), body.get("value")
        if not isinstance(key, str) or not key:
            raise bad_request('give {"key": OPTION, "value": VALUE}')
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise bad_request(f"{key}: a value is a number, a word or null")
        await self._models_by_name(key, value)
        return answer_reply(await self._ask({"command": "set", "key": key, "value": value}))

    async def _model(self, request: web.Request) -> web.Response:
        name = (await json_body(request)).get("name")
        if name is not None and not isinstance(name, str):
            raise bad_request('give {"name": MODEL}')
        await self._models_by_name("model", name)
        return answer_reply(await self._ask({"command": "model", "name": name}))

    async def _models_by_name(self, key: str, value: object) -> None:
        """400 for a model named by a path (replies.py says why)."""
        loop = asyncio.get_running_loop()
        try:  # the list of names in the refusal reads the models folder: off the loop
            why = await loop.run_in_executor(self._control, model_by_path, key, value)
        except RuntimeError:  # the executor shut down: the daemon is stopping
            why = "the daemon is stopping"
        if why is not None:
            raise bad_request(why)
