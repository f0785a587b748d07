"""What one OSC sender can cost the daemon, over real UDP sockets with a stand-in controller
(no JACK, no model): the rate, the cap per packet, model swaps and settings collapsed to the
last while one is being carried out, the bounded queue, the counts and the log lines, and the
warning for an address beyond this machine. `tests/e2e/test_osc.py` floods a real daemon."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import types

import pytest
from datagram_peers import OscPeer, osc_message

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.control import osc
from antiphon.daemon.control.controller import Controller
from antiphon.daemon.control.osc import OscControl
from antiphon.daemon.control.osc_limits import (
    MESSAGE_BURST,
    MESSAGES_PER_PACKET,
    MESSAGES_PER_SECOND,
    QUEUE_LIMIT,
    SWAP_SECONDS,
    FloodLog,
    TokenBucket,
    Work,
    WorkQueue,
    kind_of,
)

ANSWER_SECONDS = 5.0


class SlowController:
    """Answers like `Controller.handle`; `hold` (set) makes every request but status wait
    until `release` is set, as a model load or a busy interaction loop would."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.threads: set[str] = set()
        self.hold = threading.Event()
        self.release = threading.Event()
        self.started = threading.Event()  # a held request has begun

    def handle(self, request: dict) -> dict:
        self.threads.add(threading.current_thread().name)
        if request["command"] != "status" and self.hold.is_set():
            self.started.set()
            self.release.wait(ANSWER_SECONDS)
        self.requests.append(dict(request))
        if request["command"] == "status":
            return {"ok": True, "status": self.brief()}
        return {"ok": True}

    def brief(self) -> dict:
        return {"mode": "idle", "model": {"name": "default"},
                "counters": {"phrases": 0, "answers": 0, "barge_ins": 0, "late_answers": 0},
                "settings": {}}

    def of(self, command: str) -> list[dict]:
        return [request for request in self.requests if request["command"] == command]


def bundle(*elements: bytes) -> bytes:
    head = b"#bundle\x00" + b"\x00" * 7 + b"\x01"  # carried out at once
    return head + b"".join(struct.pack(">i", len(element)) + element for element in elements)


@pytest.fixture
def server():
    controller = SlowController()
    control = OscControl("127.0.0.1", 0)
    control.start(controller)
    peer = OscPeer(("127.0.0.1", int(control.address.rsplit(":", 1)[1])))
    yield control, controller, peer
    controller.release.set()
    peer.close()
    closing = threading.Thread(target=control.close, daemon=True)
    closing.start()
    closing.join(10)
    assert not closing.is_alive(), "the OSC threads did not stop"


def wait_until(condition, timeout: float = ANSWER_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- the parts, in virtual time -----------------------------------------------------------

def test_the_bucket_grants_a_burst_then_the_rate_never_more_than_the_burst():
    clock = VirtualClock()
    bucket = TokenBucket(100.0, 10, clock)
    assert bucket.take(25) == 10 and not bucket.has_token()
    clock.now += 0.05  # 5 tokens
    assert bucket.has_token() and bucket.take(8) == 5 and bucket.take(1) == 0
    clock.now += 60  # never more than the burst held
    assert bucket.take(50) == 10


def test_a_flood_log_says_a_line_a_second_with_the_count(caplog):
    clock = VirtualClock()
    flood = FloodLog("shed {new} in {seconds:.1f} s ({total} in all) {why}", clock)
    caplog.set_level(logging.WARNING)
    for _ in range(640):
        flood.add(3, why="w")
        clock.now += 1 / 256  # 2.5 s in all
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["shed 3 in 0.0 s (3 in all) w", "shed 768 in 1.0 s (771 in all) w",
                     "shed 768 in 1.0 s (1539 in all) w"]


def test_the_queue_collapses_model_swaps_and_settings_of_one_key_and_is_bounded():
    sender = ("127.0.0.1", 9)

    def work(command: str, **request) -> Work:
        asked = {"command": command, **request}
        return Work(sender, command, (), asked, kind_of(asked))

    queue = WorkQueue(limit=4)
    first, second = work("model", name="a"), work("set", key="model", value="b")
    assert queue.put([first, work("status")]) == ([], [])
    superseded, shed = queue.put([second, work("set", key="Temperature", value=0.5)])
    assert superseded == [first] and shed == []  # `set model` is a swap too
    later = work("set", key="temperature", value=0.7)
    superseded, shed = queue.put([later, work("panic"), work("reload")])
    assert len(superseded) == 1 and superseded[0].request["value"] == 0.5
    assert [each.command for each in shed] == ["reload"]  # 4 waiting: the most
    taken = [queue.take(0) for _ in range(5)]
    assert [each and each.request for each in taken] == [
        {"command": "status"}, second.request, later.request, {"command": "panic"}, None]


def test_model_swaps_begin_a_second_apart_and_the_rest_go_on_meanwhile():
    clock = VirtualClock()
    sender = ("127.0.0.1", 9)

    def work(command: str, **request) -> Work:
        asked = {"command": command, **request}
        return Work(sender, command, (), asked, kind_of(asked))

    queue = WorkQueue(clock=clock)
    queue.put([work("model", name="a")])
    assert queue.take(0).request["name"] == "a"
    queue.put([work("model", name="b"), work("status")])
    assert queue.take(0).request == {"command": "status"}  # not held up behind the swap
    assert queue.take(0) is None
    clock.now += SWAP_SECONDS / 2
    queue.put([work("set", key="model", value="c")])  # b superseded; still not due
    assert queue.take(0) is None
    clock.now += SWAP_SECONDS / 2
    assert queue.take(0).request["value"] == "c"


def test_anything_that_may_load_a_model_begins_a_second_apart_and_reloads_collapse():
    # A reload (a changed model, the program models checked again) and `set program_models`
    # (each model loaded; one that fails is loaded again next time) load as a swap does.
    clock = VirtualClock()
    sender = ("127.0.0.1", 9)

    def work(command: str, **request) -> Work:
        asked = {"command": command, **request}
        return Work(sender, command, (), asked, kind_of(asked))

    queue = WorkQueue(clock=clock)
    first_reload = work("reload")
    queue.put([work("model", name="a"), first_reload])
    superseded, _ = queue.put([work("reload"), work("set", key="program_models", value="x"),
                               work("status")])
    assert superseded == [first_reload]  # the later reload reads the config later
    began = [queue.take(0).command]
    while len(began) < 4:
        taken = queue.take(0)
        if taken is None:
            clock.now += SWAP_SECONDS / 4
        else:
            began.append((taken.command, clock.now))
    assert began == ["model", ("status", 0.0), ("reload", SWAP_SECONDS),
                     ("set", 2 * SWAP_SECONDS)]


def test_a_long_load_is_followed_by_as_long_without_one():
    # A model that takes 3 s to load, swapped in over and over, would keep a core busy for
    # good at a swap a second: the worker loads at most half its time.
    clock = VirtualClock()
    sender = ("127.0.0.1", 9)

    def work(command: str, **request) -> Work:
        asked = {"command": command, **request}
        return Work(sender, command, (), asked, kind_of(asked))

    queue = WorkQueue(clock=clock)
    queue.put([work("model", name="big")])
    assert queue.take(0).command == "model"
    clock.now += 3.0  # loading
    queue.put([work("model", name="big again"), work("status")])
    assert queue.take(0).command == "status"  # the load is over: the worker takes again
    clock.now += 2.9
    assert queue.take(0) is None
    clock.now += 0.1
    assert queue.take(0).request["name"] == "big again"
    clock.now += 0.2  # a quick load: a second between the starts, as before
    queue.put([work("reload")])
    assert queue.take(0) is None
    clock.now += SWAP_SECONDS - 0.2
    assert queue.take(0).command == "reload"


# -- over UDP -------------------------------------------------------------------------------

def test_a_bundle_of_a_thousand_model_swaps_loads_one_and_refuses_the_rest(server, caplog):
    control, controller, peer = server
    caplog.set_level(logging.INFO, logger=osc.__name__)
    names = [f"m{index}" for index in range(1400)]
    packet = bundle(*(osc_message("/antiphon/model", name) for name in names))
    assert 40_000 < len(packet) < 65_000
    before = peer.send_raw(packet)
    command, reason = peer.wait_for("/antiphon/error", before,
                                    where=lambda params: "at most" in params[1])
    assert command == "bundle"
    assert f"at most {MESSAGES_PER_PACKET} messages" in reason and "1368 of its 1400" in reason
    assert peer.wait_for("/antiphon/ok", before) == ["model"]
    time.sleep(0.3)
    # The packet's swaps collapse before any is carried out: the last of those carried out.
    assert [request["name"] for request in controller.of("model")] == [
        names[MESSAGES_PER_PACKET - 1]]
    stats = control.stats
    assert (stats.messages, stats.refused) == (1400, 1400 - MESSAGES_PER_PACKET)
    assert stats.superseded == MESSAGES_PER_PACKET - 1
    assert peer.names(before).count("/antiphon/error") == MESSAGES_PER_PACKET  # 31 + the cap
    assert "refused 1368 messages past the first 32 of their packet" in caplog.text
    before = peer.send("/antiphon/status")
    assert peer.wait_for("/antiphon/mode", before) == ["idle"]


def test_swaps_asked_for_while_one_loads_collapse_to_the_last(server):
    control, controller, peer = server
    controller.hold.set()
    peer.send("/antiphon/model", "first")
    assert controller.started.wait(ANSWER_SECONDS)  # loading, for as long as the test says
    for name in ("second", "third", "fourth"):
        before = peer.send("/antiphon/model", name)  # each a packet of its own
        if name != "second":  # the one waiting before it is replaced
            command, reason = peer.wait_for("/antiphon/error", before)
            assert command == "model" and "superseded" in reason
    for value in (0.1, 0.2, 0.3, 0.4):  # a fader swept while the loop is busy
        peer.send("/antiphon/temperature", value)
    before = peer.send("/antiphon/status")  # each answered, after what waits before it
    assert wait_until(lambda: control.stats.superseded == 2 + 3)
    controller.release.set()
    assert peer.wait_for("/antiphon/mode", before) == ["idle"]
    # The second swap begins a second after the first (SWAP_SECONDS); the status did not wait.
    assert wait_until(lambda: len(controller.of("model")) == 2)
    assert [request["name"] for request in controller.of("model")] == ["first", "fourth"]
    sets = controller.of("set")
    assert len(sets) == 1 and sets[0]["value"] == pytest.approx(0.4)
    assert controller.threads == {"antiphon-osc-work"}  # never the thread that reads


def test_requests_beyond_the_queue_are_shed_and_counted(server):
    control, controller, peer = server
    controller.hold.set()
    peer.send("/antiphon/panic")
    assert controller.started.wait(ANSWER_SECONDS)
    for _ in range(QUEUE_LIMIT + 10):  # none of these collapse: each asks for an answer
        peer.send("/antiphon/panic")
    assert wait_until(lambda: control.stats.shed >= 10)
    assert control.stats.shed == 10
    controller.release.set()
    assert wait_until(lambda: len(controller.of("panic")) == 1 + QUEUE_LIMIT)


def test_a_flood_is_shed_to_the_rate_counted_and_logged_a_line_a_second(server, caplog):
    control, controller, peer = server
    caplog.set_level(logging.WARNING, logger=osc.__name__)
    flood = [osc_message("/antiphon/set", f"key{index % 50}", index) for index in range(20_000)]
    started = time.monotonic()
    for datagram in flood:
        try:
            peer.socket.sendto(datagram, peer.target)
        except BlockingIOError:  # the socket's buffer full: the kernel drops it anyway
            pass
    wait_until(lambda: control.stats.messages + control.stats.shed >= 20_000, 3)
    time.sleep(0.5)
    elapsed = time.monotonic() - started
    stats = control.stats
    # At most a burst and the rate over the time it took (the kernel may drop some, unread).
    allowed = MESSAGE_BURST + MESSAGES_PER_SECOND * elapsed + 1
    assert stats.messages <= allowed and stats.shed > 0
    assert stats.carried_out + stats.superseded <= allowed
    lines = [record.getMessage() for record in caplog.records
             if record.getMessage().startswith("OSC flood: shed")]
    assert 1 <= len(lines) <= elapsed + 1, lines
    before = peer.send("/antiphon/status")
    assert peer.wait_for("/antiphon/mode", before, timeout=2.0) == ["idle"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_an_address_on_this_machine_only_is_not_warned_about(host, caplog):
    caplog.set_level(logging.INFO, logger=osc.__name__)
    control = OscControl(host, 0)
    try:
        control.start(SlowController())
    finally:
        control.close()
    assert "OSC: listening on" in caplog.text
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def _lan_address() -> str | None:
    """This machine's address on its network, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "lan"])
def test_an_address_beyond_this_machine_is_warned_about_at_start(host, caplog):
    if host == "lan":
        host = _lan_address() or pytest.skip("this machine has no network address")
    caplog.set_level(logging.INFO, logger=osc.__name__)
    control = OscControl(host, 0)
    try:
        control.start(SlowController())
    finally:
        control.close()
    warnings = [record.getMessage() for record in caplog.records
                if record.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert host in warnings[0] and "anyone who can reach that port" in warnings[0]
    if host in ("0.0.0.0", "::"):
        assert "every network interface" in warnings[0]


def test_status_is_answered_while_a_model_loads(monkeypatch):
    """A swap holds the Controller for as long as the model loads (a bundle's last swap, on
    OSC's worker): status does not wait for it."""
    loading, release = threading.Event(), threading.Event()

    def load_model(config):  # noqa: ANN001, ANN202
        loading.set()
        release.wait(ANSWER_SECONDS)
        raise ValueError("not a model")

    daemon = types.SimpleNamespace(config=DaemonConfig())
    controller = Controller(daemon, lambda: daemon.config, load_model)
    monkeypatch.setattr(controller, "status", lambda: {"mode": "idle"})
    swap = threading.Thread(target=controller.handle, args=({"command": "model",
                                                              "name": "big"},))
    swap.start()
    try:
        assert loading.wait(ANSWER_SECONDS)
        answered: list[dict] = []
        asking = threading.Thread(target=lambda: answered.append(
            controller.handle({"command": "status"})))
        asking.start()
        asking.join(ANSWER_SECONDS / 2)
        assert answered == [{"ok": True, "status": {"mode": "idle"}}]
    finally:
        release.set()
        swap.join(ANSWER_SECONDS)
        asking.join(ANSWER_SECONDS)


def test_a_flood_of_reloads_each_in_its_packet_collapses_and_loads_a_second_apart(server):
    control, controller, peer = server
    controller.hold.set()
    peer.send("/antiphon/reload")
    assert controller.started.wait(ANSWER_SECONDS)  # re-reading, for as long as it takes
    for _ in range(40):
        peer.send("/antiphon/reload")
        peer.send("/antiphon/set", "program_models", "broken")
    before = peer.send("/antiphon/status")
    assert wait_until(lambda: control.stats.superseded == 39 + 39)
    controller.release.set()
    assert peer.wait_for("/antiphon/mode", before) == ["idle"]  # not held up behind them
    assert wait_until(lambda: len(controller.requests) == 4, SWAP_SECONDS * 2 + ANSWER_SECONDS)
    time.sleep(0.3)
    assert [request["command"] for request in controller.requests] == [
        "reload", "status", "reload", "set"]
