"""The OSC server over real UDP sockets, with a stand-in controller (no JACK, no model): what
it does with large packets, odd argument types, malformed and hostile packets, and how many
subscribers it serves. `tests/e2e/test_osc.py` drives the same server inside `antiphon run`.
"""

from __future__ import annotations

import logging
import struct
import threading
import time

import pytest
from datagram_peers import OscPeer, osc_message
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage

from antiphon.daemon.control import osc
from antiphon.daemon.control.osc import MAX_SUBSCRIBERS, OscControl

OSC_LOGGER = osc.__name__
IMMEDIATELY = b"\x00" * 7 + b"\x01"  # an OSC time tag
ANSWER_SECONDS = 3.0


class StandInController:
    """Answers like `Controller.handle` and `Controller.brief`, and records every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.settings = {"temperature": 1.0, "program_models": None}
        self.fail_with: Exception | None = None

    def handle(self, request: dict) -> dict:
        self.requests.append(dict(request))
        if self.fail_with is not None:
            raise self.fail_with
        if request["command"] == "status":
            return {"ok": True, "status": self.brief()}
        if request["command"] == "set":
            self.settings[request["key"]] = request["value"]
        return {"ok": True}

    def brief(self) -> dict:
        return {"mode": "idle", "model": {"name": "default"},
                "counters": {"phrases": 0, "answers": 0, "barge_ins": 0, "late_answers": 0},
                "settings": dict(self.settings)}


message = osc_message


def bundle(*elements: bytes) -> bytes:
    """An OSC bundle to be carried out at once, of the datagrams as they are."""
    head = b"#bundle\x00" + IMMEDIATELY
    return head + b"".join(struct.pack(">i", len(element)) + element for element in elements)


@pytest.fixture
def server():
    """(the OscControl, its stand-in controller, a function that opens an OscPeer to it)."""
    controller = StandInController()
    control = OscControl("127.0.0.1", 0)
    control.start(controller)
    port = int(control.address.rsplit(":", 1)[1])
    peers: list[OscPeer] = []

    def open_peer() -> OscPeer:
        peers.append(OscPeer(("127.0.0.1", port)))
        return peers[-1]

    yield control, controller, open_peer
    for peer in peers:
        peer.close()
    # A server thread stuck on a packet would make close() wait for ever: give it a bound.
    closing = threading.Thread(target=control.close, daemon=True)
    closing.start()
    closing.join(5)
    assert not closing.is_alive(), "the OSC server thread did not stop"


def test_a_request_larger_than_8192_bytes_is_carried_out(server):
    _, controller, open_peer = server
    peer = open_peer()
    value = "default, " * 1000
    assert len(message("/antiphon/set", "program_models", value)) > 8192  # socketserver's
    before = peer.send("/antiphon/set", "program_models", value)
    assert peer.wait_for("/antiphon/ok", before) == ["set"]
    assert controller.settings["program_models"] == value
    # The largest a UDP datagram over IPv4 carries (65507 bytes) still arrives whole.
    overhead = len(message("/antiphon/set", "program_models", "")) - 4  # "" takes 4 bytes
    longest = "y" * (65504 - overhead - 1)  # a string is padded with 1-4 NULs to 4 bytes
    datagram = message("/antiphon/set", "program_models", longest)
    assert len(datagram) == 65504
    before = peer.send_raw(datagram)
    assert peer.wait_for("/antiphon/ok", before) == ["set"]
    assert controller.settings["program_models"] == longest


def test_the_subscriber_over_the_cap_is_refused_and_the_others_keep_theirs(server):
    _, controller, open_peer = server
    peers = [open_peer() for _ in range(MAX_SUBSCRIBERS)]
    for peer in peers:
        before = peer.send("/antiphon/subscribe")
        assert peer.wait_for("/antiphon/ok", before) == ["subscribe"]
    for peer in peers:
        peer.wait_for("/antiphon/mode")
    late = open_peer()
    before = late.send("/antiphon/subscribe")
    command, reason = late.wait_for("/antiphon/error", before)
    assert command == "subscribe" and str(MAX_SUBSCRIBERS) in reason
    # A subscriber that subscribes again keeps its one place: it is not refused, the cap
    # still refuses the next newcomer, and each state message reaches it once.
    again = peers[0].send("/antiphon/subscribe")
    assert peers[0].wait_for("/antiphon/ok", again) == ["subscribe"]
    before = late.send("/antiphon/subscribe", late.port)
    assert late.wait_for("/antiphon/error", before)[0] == "subscribe"
    time.sleep(0.5)  # several state polls
    changed = [len(peer.received) for peer in peers]
    controller.settings["temperature"] = 0.5
    for peer, after in zip(peers, changed, strict=True):
        peer.wait_for("/antiphon/setting", after)
    time.sleep(0.5)
    assert peers[0].names(changed[0]).count("/antiphon/setting") == 1
    assert "/antiphon/setting" not in late.names()
    # One who leaves makes room.
    before = peers[1].send("/antiphon/unsubscribe")
    peers[1].wait_for("/antiphon/ok", before)
    before = late.send("/antiphon/subscribe")
    assert late.wait_for("/antiphon/ok", before) == ["subscribe"]
    late.wait_for("/antiphon/mode", before)


@pytest.mark.parametrize("port", ["9000", 1.5, True])
def test_a_subscription_port_that_is_no_integer_is_refused(server, port):
    _, _, open_peer = server
    peer, listener = open_peer(), open_peer()
    before = peer.send("/antiphon/subscribe", port)
    command, reason = peer.wait_for("/antiphon/error", before)
    assert command == "subscribe" and "integer" in reason
    # Nothing was subscribed: neither the sender's port nor any other.
    time.sleep(0.5)
    assert peer.names(before + 1) == [] and listener.names() == []
    before = peer.send("/antiphon/unsubscribe", "9000")
    assert peer.wait_for("/antiphon/error", before)[0] == "unsubscribe"


def test_a_message_with_an_unknown_type_tag_is_refused_not_carried_out(server, caplog):
    _, controller, open_peer = server
    peer = open_peer()
    caplog.set_level(logging.DEBUG)
    # "/antiphon/status" with type tags ",zzz" and three arguments python-osc cannot read.
    before = peer.send_raw(b"/antiphon/status\x00\x00\x00\x00,zzz\x00\x00\x00\x00" + b"\x00" * 12)
    command, reason = peer.wait_for("/antiphon/error", before)
    assert command == "status" and "'z'" in reason
    # Arguments their type tags promise but the packet lacks: refused the same way.
    before = peer.send_raw(b"/antiphon/status\x00\x00\x00\x00,i\x00\x00")
    assert peer.wait_for("/antiphon/error", before)[0] == "status"
    # In a bundle: nothing of the bundle is carried out (a bundle is all or nothing).
    before = peer.send_raw(bundle(message("/antiphon/temperature", 0.5),
                                  b"/antiphon/panic\x00,z\x00\x00"))
    assert peer.wait_for("/antiphon/error", before)[0] == "panic"
    time.sleep(0.3)
    assert controller.requests == []
    assert controller.settings["temperature"] == 1.0
    assert [record for record in caplog.records if record.name == "root"] == []


@pytest.mark.parametrize("junk", [
    pytest.param(b"#bundle\x00" + IMMEDIATELY + struct.pack(">i", -4),
                 id="bundle-element-of-negative-size"),
    pytest.param(b"#bundle\x00" + IMMEDIATELY + struct.pack(">i", 4) + b"\x00" * 4,
                 id="bundle-element-that-is-no-message"),
    pytest.param(b"/\xff\xfe\x00,\x00\x00\x00", id="address-that-is-no-utf8"),
    pytest.param(b"#bundle\x00" + IMMEDIATELY + struct.pack(">i", 0),
                 id="bundle-element-of-no-size"),
])
def test_a_packet_with_no_one_to_answer_is_logged_once(server, caplog, junk):
    _, controller, open_peer = server
    peer = open_peer()
    caplog.set_level(logging.DEBUG)
    peer.send_raw(junk)
    before = peer.send("/antiphon/temperature", 0.5)
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
    assert controller.requests == [{"command": "set", "key": "temperature", "value": 0.5}]
    lines = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].name == OSC_LOGGER, caplog.text
    assert "\n" not in lines[0].getMessage() and lines[0].exc_info is None


def test_a_flood_of_junk_is_logged_a_line_a_second_with_its_count(server, caplog):
    _, _, open_peer = server
    peer = open_peer()
    caplog.set_level(logging.WARNING)
    junk = b"#bundle\x00" + IMMEDIATELY + struct.pack(">i", -4)
    for _ in range(50):
        peer.send_raw(junk)
    before = peer.send("/antiphon/temperature", 0.5)  # served in order: the junk was read
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
    time.sleep(1.1)
    peer.send_raw(junk)
    before = peer.send("/antiphon/temperature", 0.6)
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
    lines = [record.getMessage() for record in caplog.records if record.name == OSC_LOGGER]
    assert len(lines) == 2, lines
    assert "(1 ignored so far)" in lines[0] and "(51 ignored so far)" in lines[1]


def test_bundles_nested_deeper_than_python_can_recurse_are_refused(server, caplog):
    _, _, open_peer = server
    peer = open_peer()
    caplog.set_level(logging.WARNING)
    nested = message("/antiphon/panic")
    for _ in range(2000):
        nested = bundle(nested)
    assert len(nested) < 65507
    peer.send_raw(nested)
    before = peer.send("/antiphon/status")
    peer.wait_for("/antiphon/mode", before)
    assert len(caplog.records) == 1 and "nested" in caplog.records[0].getMessage()


def test_a_bundle_timed_far_ahead_does_not_hold_up_the_server(server):
    _, _, open_peer = server
    peer = open_peer()
    a_day_ahead = OscBundleBuilder(time.time() + 86_400)
    a_day_ahead.add_content(OscMessage(message("/antiphon/temperature", 0.5)))
    before = peer.send_raw(a_day_ahead.build().dgram)
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
    before = peer.send("/antiphon/status")
    peer.wait_for("/antiphon/mode", before)


def test_an_unexpected_error_is_one_log_line_with_its_reason_and_the_server_goes_on(
        server, caplog):
    _, controller, open_peer = server
    peer = open_peer()
    caplog.set_level(logging.DEBUG)
    controller.fail_with = RuntimeError("the stand-in broke")
    peer.send("/antiphon/panic")
    deadline = time.monotonic() + ANSWER_SECONDS
    while not controller.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    lines = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].name == OSC_LOGGER, caplog.text
    assert "the stand-in broke" in lines[0].getMessage() and lines[0].exc_info is None
    controller.fail_with = None
    before = peer.send("/antiphon/panic")
    assert peer.wait_for("/antiphon/ok", before) == ["panic"]


@pytest.mark.parametrize("letter", ["x", "*", "["])
def test_a_long_address_is_answered_at_once_with_an_error_that_fits_a_datagram(
        server, recwarn, letter):
    _, _, open_peer = server
    peer = open_peer()
    # '*' and '[' are OSC address pattern syntax: nothing that takes seconds to match, and
    # nothing for Python's warnings (they would go to stderr, past the log).
    before = peer.send_raw(message("/antiphon/" + letter * 65000, 1))
    command, reason = peer.wait_for("/antiphon/error", before, timeout=1.0)
    assert command.startswith(letter * 100) and "unknown address" in reason
    assert [str(warning.message) for warning in recwarn] == []


@pytest.mark.parametrize("junk", [
    pytest.param(b"/antiphon/status\x00\x00\x00\x00,z\x00\x00", id="answered-with-an-error"),
    pytest.param(b"#bundle\x00" + IMMEDIATELY, id="empty-bundle"),
    pytest.param(b"garbage", id="neither-message-nor-bundle"),
])
def test_a_flood_of_packets_with_nothing_to_carry_out_is_held_to_the_rate(server, junk):
    # Each was read, parsed and (an address of ours) answered with an error, at whatever
    # speed it came: an unmetered reflector and a core kept busy.
    from antiphon.daemon.control.osc_limits import MESSAGE_BURST, MESSAGES_PER_SECOND

    control, _, open_peer = server
    peer = open_peer()
    began = time.monotonic()
    for _ in range(3000):
        try:
            peer.socket.sendto(junk, peer.target)
        except BlockingIOError:
            pass
    time.sleep(0.5)
    elapsed = time.monotonic() - began
    assert control.stats.shed > 0
    errors = peer.names().count("/antiphon/error")
    assert errors <= MESSAGE_BURST + MESSAGES_PER_SECOND * elapsed + 1
    time.sleep(MESSAGE_BURST / MESSAGES_PER_SECOND)  # the bucket fills again
    before = peer.send("/antiphon/temperature", 0.5)
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]


def test_a_packet_is_walked_no_further_than_its_element_cap():
    from antiphon.daemon.control.osc_packets import MAX_ELEMENTS, read_packet

    empty = bundle()
    packet = read_packet(bundle(*[empty] * 3000), 32)  # 60 kB of empty bundles
    assert (packet.count, packet.elements, packet.whole) == (0, MAX_ELEMENTS, False)
    packet = read_packet(bundle(*[message("/a")] * 8000), 32)
    assert len(packet.messages) == 32 and packet.count == MAX_ELEMENTS - 1
    packet = read_packet(bundle(bundle(message("/a")), empty), 32)
    assert (packet.count, packet.elements, packet.whole) == (1, 4, True)


def test_packets_costly_to_walk_cost_tokens_in_proportion(server, monkeypatch):
    # A 64 kB datagram of empty bundles (or of tiny messages past the cap) is thousands of
    # elements to walk: at one token a packet, a flood of them kept a core busy reading.
    from antiphon.daemon.control.osc_limits import (
        ELEMENTS_PER_TOKEN,
        MESSAGE_BURST,
        MESSAGES_PER_SECOND,
    )
    from antiphon.daemon.control.osc_packets import MAX_ELEMENTS

    walked: list[int] = []
    real_read = osc.read_packet

    def counted(datagram, limit):
        walked.append(len(datagram))
        return real_read(datagram, limit)

    monkeypatch.setattr(osc, "read_packet", counted)
    control, _, open_peer = server
    peer = open_peer()
    for heavy in (bundle(*[bundle()] * 3000), bundle(*[message("/a")] * 5000)):
        walked.clear()
        began = time.monotonic()
        while time.monotonic() - began < 1.0:
            try:
                peer.socket.sendto(heavy, peer.target)
            except BlockingIOError:
                time.sleep(0.001)
        elapsed = time.monotonic() - began + 0.2
        tokens = MESSAGE_BURST + MESSAGES_PER_SECOND * elapsed
        assert len(walked) <= tokens / (MAX_ELEMENTS / ELEMENTS_PER_TOKEN) + 2, len(walked)
        time.sleep(1.0)  # the bucket fills again
    before = peer.send("/antiphon/temperature", 0.5)
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
