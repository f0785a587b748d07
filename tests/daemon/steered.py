"""Stand-ins for the knobs' host in the knobs' unit tests (tests/daemon/control, and the CC
map's in tests/daemon/config): a daemon that only keeps its config and says what the knobs
asked of it, and a Controller whose requests wait."""

from __future__ import annotations

import threading

from antiphon.daemon.config.cc_map import Knob, parse_cc_map
from antiphon.daemon.config.daemon_config import DaemonConfig


class SteeredDaemon:
    """The part of `DaemonControls` the knobs use: the config, the end of a call, a learn's
    hold on every controller (recorded)."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.every_cc: list[bool] = []  # each take_every_cc, in order
        self.phrases_ended = 0

    def take_every_cc(self, every: bool) -> None:
        self.every_cc.append(every)

    def end_phrase(self) -> None:
        self.phrases_ended += 1


class SlowController:
    """A Controller stand-in whose requests wait until `release` is set (a loop busy with
    an answer); a `set` changes the daemon's config."""

    def __init__(self, config: DaemonConfig) -> None:
        self.daemon = SteeredDaemon(config)
        self.requests: list[dict] = []
        self.release = threading.Event()

    def handle(self, request: dict) -> dict:
        self.requests.append(request)
        self.release.wait(5)
        if request["command"] == "set":
            config = self.daemon.config
            self.daemon.config = DaemonConfig(**{**config.__dict__, request["key"]:
                                                 request["value"]})
        return {"ok": True}


def knob(text: str) -> Knob:
    return parse_cc_map(text)[0]
