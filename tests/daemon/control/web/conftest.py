"""Fixtures of the web page's tests: a real `Controller` steering a stand-in daemon (the
knobs' host of tests/daemon/steered.py, made able to apply a config and show a status), a
`LiveRoll`, and a `WebPage` over them on a free port, stopped after the test. This folder
is on sys.path (pytest puts a conftest's folder there): `web_client` and `screenshot`
import from it."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from steered import SteeredDaemon

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.steering import DaemonStatus
from antiphon.daemon.control.web.live import LiveRoll
from antiphon.daemon.control.web.server import WebPage
from antiphon.daemon.midi.input_gate import GateStats
from antiphon.daemon.play.loop_parts import LoopStats
from antiphon.daemon.play.scheduler import SchedulerStats

KNOWN_MODELS = ("default", "transformer")


def model_session(name: str | None) -> SimpleNamespace:
    """What a status reads of a loaded model (the Controller's describe_model)."""
    card = SimpleNamespace(name=name or "default", family="lstm", representation="events")
    return SimpleNamespace(model=SimpleNamespace(card=card, path=f"/models/{name}.onnx",
                                                 device="cpu"))


class ShownDaemon(SteeredDaemon):
    """The steered daemon, able to take a config, swap a model and show a status."""

    def __init__(self, config: DaemonConfig) -> None:
        super().__init__(config)
        self.session = model_session(config.model)
        self.mode = "idle"

    def apply_config(self, new: DaemonConfig) -> tuple[list[str], list[str]]:
        changed = [field.name for field in dataclasses.fields(new)
                   if getattr(new, field.name) != getattr(self.config, field.name)]
        self.config = new
        return changed, []

    def swap_session(self, session, model: str | None):
        old, self.session = self.session, session
        self.config = dataclasses.replace(self.config, model=model)
        return old

    def followed_tempo(self) -> float | None:
        return None

    def propose_tempo(self, bpm: float) -> None:
        pass

    def snapshot(self) -> DaemonStatus:
        return DaemonStatus(mode=self.mode, config=self.config, session=self.session,
                            loop=LoopStats(), scheduler=SchedulerStats(), gate=GateStats(),
                            tempo={"bpm": self.config.bpm, "source": "internal"}, ports={},
                            clock_out=None)


def load_model(config: DaemonConfig):
    if config.model not in (None, *KNOWN_MODELS):
        raise FileNotFoundError(f"no model {config.model!r}")
    return model_session(config.model)


@pytest.fixture
def daemon() -> ShownDaemon:
    return ShownDaemon(DaemonConfig(temperature=1.0, top_p=0.95, scale="auto", seed=7,
                                    device="cpu"))


@pytest.fixture
def controller(daemon) -> Controller:
    return Controller(daemon, lambda: daemon.config, load_model)


@pytest.fixture
def live() -> LiveRoll:
    return LiveRoll()


@pytest.fixture
def serve(controller, live):
    """serve(takes_folder=None, **kwargs) -> a started WebPage on a free port, stopped after
    the test."""
    pages: list[WebPage] = []

    def start(takes_folder=None, **kwargs) -> WebPage:
        page = WebPage(controller, live, takes_folder, 0, **kwargs)
        page.start()
        pages.append(page)
        return page

    yield start
    for page in pages:
        page.stop()


@pytest.fixture
def page(serve) -> WebPage:
    return serve()
