"""The keyboard's own controls steering the daemon: a program change swaps the model (one of
the config's `program_models`), a panic knob (`panic_cc`) or key (`panic_note`) silences it,
an end-of-call knob (`end_cc`) or key (`end_note`) ends the call (`phrase_end` control).

The input gate hands these messages over on the input's reader thread; they wait in a
short queue for a thread of their own, because a model swap takes a moment to load and the
reader must go on reading. Each becomes the same request the control socket takes, so the
same checks hold: a model that does not load is refused and the old one plays on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from antiphon.daemon.midi.wire import CONTROL_CHANGE, NOTE_ON, PROGRAM_CHANGE
from antiphon.daemon.service.config import DaemonConfig

log = logging.getLogger(__name__)

QUEUE_LIMIT = 64  # knobs turned faster than requests are carried out: the latest matter
STOP = None


def request_for(message: Sequence[int], config: DaemonConfig) -> dict | None:
    """The control request a message makes under `config`, or None."""
    kind = message[0] & 0xF0
    if kind == PROGRAM_CHANGE:
        models = config.program_list()
        program = message[1]
        if program >= len(models):
            log.info("program %d selects no model (program_models lists %d)", program + 1,
                     len(models))
            return None
        if models[program] == (config.model or "default"):
            return None  # already playing: a swap would only cost a reload
        return {"command": "model", "name": models[program]}
    if kind == CONTROL_CHANGE and message[1] == config.panic_cc and message[2] >= 64:
        return {"command": "panic"}
    if kind == NOTE_ON and message[1] == config.panic_note and message[2] > 0:
        return {"command": "panic"}
    if config.phrase_end == "control" and (
            (kind == CONTROL_CHANGE and message[1] == config.end_cc and message[2] >= 64)
            or (kind == NOTE_ON and message[1] == config.end_note and message[2] > 0)):
        return {"command": "end_phrase"}
    return None


class Knobs:
    """Takes control messages (`knobs(message)`, any thread) and carries them out through
    `controller` on its own thread."""

    def __init__(self, controller) -> None:  # noqa: ANN001 (a Controller; typed loosely)
        self._controller = controller
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name="antiphon-knobs", daemon=True)
        self.carried_out = 0

    def __call__(self, message: Sequence[int]) -> None:
        try:
            self._queue.put_nowait(tuple(message))
        except queue.Full:
            pass  # a knob swept faster than we keep up: its later moves still come

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        try:
            self._queue.put(STOP, timeout=1.0)
        except queue.Full:
            return
        self._thread.join(2.0)

    def _run(self) -> None:
        while (message := self._queue.get()) is not STOP:
            try:
                request = request_for(message, self._controller.daemon.config)
                if request is None:
                    continue
                if request["command"] == "end_phrase":  # the loop's own business
                    self._controller.daemon.loop.end_phrase()
                    continue
                answer = self._controller.handle(request)
                self.carried_out += 1
                if not answer["ok"]:
                    log.warning("%s from the keyboard refused: %s", request["command"],
                                answer["error"])
            except Exception:  # a knob must never end the daemon: log it and go on
                log.exception("could not carry out a control message %s", list(message))
