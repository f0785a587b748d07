"""wiring.build_service: `antiphon run`'s object graph over a MIDI edge (NamedEdge over the
in-process MIDI system of tests/daemon/midi/edge_fakes.py). Every part is given its
collaborators as it is made, and they work together: a knob on the keyboard reaches the
Controller through the knobs, the clock's own port feeds the clock follower only while the
daemon listens, and the clock sent leaves through the clock port and shows in the status.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import wait_until

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi import kept_ports
from antiphon.daemon.midi.edge import EdgeOptions
from antiphon.daemon.midi.named_edge import NamedEdge
from antiphon.daemon.play.midi_clock import MidiClockFollower
from antiphon.daemon.service.wiring import Service, build_service

KEYS = "Keystation 49:Keystation 49 MIDI 1 24:0"
SYNTH = "FLUID Synth:Synth input port 130:0"
DAW = "Bitwig Studio:Clock out 128:0"
DRUMS = "TR-8:TR-8 MIDI 1 20:0"
CLOCK = 0xF8  # a MIDI clock pulse


def _edge_fakes():
    """tests/daemon/midi/edge_fakes.py, the MIDI edge's own test system."""
    path = Path(__file__).parents[1] / "midi" / "edge_fakes.py"
    spec = importlib.util.spec_from_file_location("edge_fakes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


edge_fakes = _edge_fakes()


@pytest.fixture(autouse=True)
def quick_panic(monkeypatch):
    monkeypatch.setattr(kept_ports, "PANIC_PACE_SECONDS", 0.0)


class CardedSession(FakeSession):
    """A FakeSession with the model card a status describes."""

    def __init__(self) -> None:
        super().__init__()
        card = SimpleNamespace(name="fake", family="fake", representation="events")
        self.model = SimpleNamespace(card=card, path=Path("/models/fake.onnx"), device="cpu")


def refuse_to_load(config: DaemonConfig):
    raise OSError("no model loads here")


def serve_over(system, config: DaemonConfig, **options) -> tuple[Service, NamedEdge]:
    """The service `antiphon run` builds for `config` over an edge on `system`, its edge
    open and its ports taken; nothing started."""
    edge = NamedEdge(EdgeOptions("alsa", "Keystation", "FLUID", panic_on_start=False,
                                 **options), system=system)
    edge.watch = system.watch("alsa", 30.0, edge_fakes.Clock())
    service = build_service(config, CardedSession(), edge, reread_config=lambda: config,
                            load_model=refuse_to_load, socket_path="/run/test/control.sock")
    edge.open()
    edge.look()
    return service, edge


def test_a_knob_reaches_the_controller_and_the_clock_sent_goes_out_and_into_the_status():
    system = edge_fakes.FakeMidiSystem(sources=[KEYS], destinations=[SYNTH, DRUMS])
    config = DaemonConfig(cc_map="temperature=21:0.5..1.5", clock_out="TR-8", bpm=240)
    service, edge = serve_over(system, config, clock_out="TR-8")
    daemon, controller, knobs = service.daemon, service.controller, service.knobs
    assert daemon.gate.controls is knobs and controller.knobs is knobs
    assert daemon.clock_out is service.clock_out is not None
    knobs.start(controller)
    service.clock_out.start()
    daemon.start()
    try:
        system.play(KEYS, [0xB0, 21, 127])  # the temperature knob, all the way up
        assert wait_until(lambda: daemon.config.temperature == 1.5, 5)
        drums = lambda: [m for _, m in system.heard[DRUMS].messages()] \
            if DRUMS in system.heard else []  # noqa: E731
        assert wait_until(lambda: [CLOCK] in drums(), 5)  # from the next bar line on
        status = controller.status()
        assert status["clock_out"]["on"] and status["clock_out"]["to"] == DRUMS
        assert status["ports"]["input"]["to"] == KEYS
        assert status["control_socket"] == "/run/test/control.sock"
    finally:
        service.clock_out.stop()
        knobs.stop()
        daemon.stop()
        edge.close()


def test_the_clocks_own_port_feeds_the_follower_only_while_the_daemon_listens():
    system = edge_fakes.FakeMidiSystem(sources=[KEYS, DAW], destinations=[SYNTH])
    config = DaemonConfig(clock="midi", clock_in="Bitwig")
    service, edge = serve_over(system, config, clock_in="Bitwig")
    daemon = service.daemon
    assert isinstance(daemon.clock, MidiClockFollower) and service.clock_out is None
    system.play(DAW, [CLOCK])
    assert daemon.clock.pulses == 0  # not listening yet
    daemon.start()
    try:
        for _ in range(3):
            system.play(DAW, [CLOCK])
        system.play(KEYS, [CLOCK])  # the keyboard's own clock: another device's
        assert daemon.clock.pulses == 3 and daemon.gate.stats.foreign_clock == 1
    finally:
        daemon.stop()
    system.play(DAW, [CLOCK])
    assert daemon.clock.pulses == 3  # stopped: no longer listening
    edge.close()


def test_a_takes_folder_that_cannot_be_used_means_no_record_not_no_start(tmp_path, caplog):
    from antiphon.daemon.service.wiring import open_recorder

    a_file = tmp_path / "not a folder"
    a_file.write_text("")
    assert open_recorder(DaemonConfig(record_folder=str(a_file))) is None
    assert "not recording" in caplog.text and "playing goes on" in caplog.text
    assert open_recorder(DaemonConfig(record=False)) is None
    recorder = open_recorder(DaemonConfig(record_folder=str(tmp_path / "takes")))
    try:
        assert recorder is not None and recorder.recording
        assert (tmp_path / "takes" / recorder.take_id / "journal.jsonl").is_file()
    finally:
        recorder.close()
    assert (tmp_path / "takes" / recorder.take_id / "take.mid").is_file()
