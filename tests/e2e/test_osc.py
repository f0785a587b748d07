"""Open Sound Control on a running `antiphon run`, over real UDP and the real JACK server:
a knob or `/antiphon/set` changes a setting (the control socket sees it), a bad value is
refused with a reason, `/antiphon/status` and subscriptions send the state, a request over
8 kB is served, junk and unreadable arguments do not hurt, and without `--osc-port` the
daemon has no network socket at all.

The test is the OSC client: one UDP socket it sends from and receives on, since the daemon
answers to the sender's address.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest
from datagram_peers import OscPeer, osc_message
from e2e_support import (
    ANSWER_BOUND_SECONDS,
    BEAT,
    PHRASE,
    JackPlayer,
    wait_until,
)

from antiphon.daemon.config.daemon_config import LIVE_OPTIONS
from antiphon.daemon.control.socket_server import ask

pytestmark = pytest.mark.jack


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def osc_daemon(daemon):
    """(the daemon process, an OscPeer talking to it), the daemon started with OSC on."""
    peers = []

    def start(*extra: str):
        port = free_udp_port()
        process = daemon("--osc-port", str(port), *extra)
        process.wait_for(rf"OSC: listening on 127\.0\.0\.1:{port}", 5)
        peers.append(OscPeer(("127.0.0.1", port)))
        return process, peers[-1]

    yield start
    for peer in peers:
        peer.close()


def settings(process) -> dict:
    answer = ask(process.socket, {"command": "status"})
    assert answer["ok"] is True, answer
    return answer["status"]["settings"]


def udp_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every UDP socket process `pid` holds, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        if not os.path.exists(table):
            continue
        with open(table) as rows:
            next(rows)  # the header
            for row in rows:
                columns = row.split()
                if columns[9] in inodes:
                    address, port = columns[1].split(":")
                    found.append((address, int(port, 16)))
    return found


def test_settings_over_osc_change_what_the_control_socket_shows(osc_daemon):
    process, peer = osc_daemon()
    before = peer.send("/antiphon/temperature", 0.6)
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
    # OSC floats are 32-bit: 0.6 arrives as the nearest float32.
    assert settings(process)["temperature"] == pytest.approx(0.6, abs=1e-6)

    before = peer.send("/antiphon/set", "scale", "C major")
    assert peer.wait_for("/antiphon/ok", before) == ["set"]
    before = peer.send("/antiphon/max_polyphony", 3)  # an int knob
    assert peer.wait_for("/antiphon/ok", before) == ["max_polyphony"]
    state = settings(process)
    assert (state["scale"], state["max_polyphony"]) == ("C major", 3)

    before = peer.send("/antiphon/temperature", -1.0)
    command, reason = peer.wait_for("/antiphon/error", before)
    assert command == "temperature" and "must be > 0" in reason
    before = peer.send("/antiphon/set", "in_port", "elsewhere")
    assert "restart" in peer.wait_for("/antiphon/error", before)[1]
    before = peer.send("/antiphon/dance", 1)
    assert peer.wait_for("/antiphon/error", before) == [
        "dance", "unknown address or wrong arguments"]
    assert settings(process)["temperature"] == pytest.approx(0.6, abs=1e-6)

    before = peer.send("/antiphon/set", "scale", "")  # OSC's stand-in for None: the default
    assert peer.wait_for("/antiphon/ok", before) == ["set"]
    assert settings(process)["scale"] == "auto"
    # By default OSC listens on this machine only.
    port = peer.target[1]
    assert ("0100007F", port) in udp_sockets(process.process.pid)


def test_status_over_osc_sends_the_state_to_the_sender(osc_daemon):
    process, peer = osc_daemon()
    peer.send("/antiphon/temperature", 0.5)
    peer.wait_for("/antiphon/ok")
    before = peer.send("/antiphon/status")
    assert peer.wait_for("/antiphon/mode", before) == ["idle"]
    assert peer.wait_for("/antiphon/counters", before) == [0, 0, 0, 0]
    (model,) = peer.wait_for("/antiphon/model", before)
    assert model.endswith(".onnx")  # the fixture names the model by its path
    assert wait_until(lambda: len([name for name, _ in peer.received[before:]
                                   if name == "/antiphon/setting"]) == len(LIVE_OPTIONS), 5)
    sent = {params[0]: params[1] for name, params in peer.received[before:]
            if name == "/antiphon/setting"}
    assert set(sent) == set(LIVE_OPTIONS)
    assert sent["temperature"] == pytest.approx(0.5, abs=1e-6)
    assert sent["scale"] == "auto"
    assert sent["max_polyphony"] == ""  # None, as OSC clients can all read it
    assert sent["channel"] == 1 and sent["listen_channels"] == "1-9,11-16"


def test_a_subscriber_hears_the_mode_and_the_counters_change(osc_daemon):
    process, peer = osc_daemon("--max-answer-beats", "4")
    before = peer.send("/antiphon/subscribe")
    assert peer.wait_for("/antiphon/ok", before) == ["subscribe"]
    assert peer.wait_for("/antiphon/mode", before) == ["idle"]  # the whole state, first
    keys = JackPlayer()
    try:
        playing = len(peer.received)
        keys.play(PHRASE, BEAT)
        peer.wait_for("/antiphon/mode", playing, timeout=ANSWER_BOUND_SECONDS + 2,
                      where=lambda params: params[0] in ("listening", "responding"))
        counters = peer.wait_for("/antiphon/counters", playing, timeout=10,
                                 where=lambda params: params[0] == 1)
        assert counters[0] == 1
        peer.wait_for("/antiphon/counters", playing, timeout=4 * BEAT + 5,
                      where=lambda params: params[:2] == [1, 1])  # the answer finished

        before = peer.send("/antiphon/unsubscribe")
        assert peer.wait_for("/antiphon/ok", before) == ["unsubscribe"]
        quiet = len(peer.received)
        keys.play(PHRASE, BEAT)
        assert wait_until(lambda: ask(process.socket, {"command": "status"})["status"]
                          ["counters"]["answers"] == 2, ANSWER_BOUND_SECONDS + 4 * BEAT + 5)
        time.sleep(0.5)  # several state polls
        assert peer.received[quiet:] == [], "state messages after unsubscribing"
    finally:
        keys.close()


def test_a_subscription_to_an_impossible_port_does_not_silence_the_others(osc_daemon):
    process, peer = osc_daemon()
    before = peer.send("/antiphon/subscribe")
    peer.wait_for("/antiphon/mode", before)
    other = OscPeer(peer.target)
    try:
        # An int32 that is no UDP port: refused, and the others' state messages go on.
        before = other.send("/antiphon/subscribe", 99_999_999)
        reply = other.wait_for("/antiphon/error", before)
        assert reply[0] == "subscribe" and "99999999" in reply[1]
        time.sleep(0.5)
        changed = peer.send("/antiphon/temperature", 0.7)
        peer.wait_for("/antiphon/setting", changed,
                      where=lambda params: params[0] == "temperature"
                      and params[1] == pytest.approx(0.7, abs=1e-6))
    finally:
        other.close()
    assert process.process.poll() is None
    assert "Traceback" not in process.output()


def test_a_request_over_8_kb_is_handled_like_any_other(osc_daemon):
    process, peer = osc_daemon()
    value = "default, " * 1000  # 9 kB: more than socketserver reads unless told (8192 bytes)
    before = peer.send("/antiphon/set", "program_models", value)
    assert peer.wait_for("/antiphon/ok", before) == ["set"]
    assert settings(process)["program_models"] == value
    before = peer.send("/antiphon/set", "scale", "x" * 20_000)  # refused, with its reason
    command, reason = peer.wait_for("/antiphon/error", before)
    assert command == "set" and "scale" in reason


def test_junk_datagrams_do_not_hurt_the_daemon(osc_daemon):
    process, peer = osc_daemon()
    for junk in (b"garbage", b"\x00" * 3, b"#bundle\x00" + b"\xff" * 12,
                 # a bundle element of -4 bytes: python-osc alone reads it for ever
                 b"#bundle\x00" + b"\x00" * 7 + b"\x01" + b"\xff\xff\xff\xfc"):
        peer.socket.sendto(junk, peer.target)
    before = peer.send("/other/app", 1)  # another application's address: ignored
    before = peer.send("/antiphon/temperature", 0.8)
    assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
    assert all(name.startswith("/antiphon/") for name, _ in peer.received)
    # Arguments that cannot be read are refused, not carried out without them.
    for tags in (b",i\x00\x00", b",zzz\x00\x00\x00\x00" + b"\x00" * 12):
        before = len(peer.received)
        peer.socket.sendto(b"/antiphon/status\x00\x00\x00\x00" + tags, peer.target)
        assert peer.wait_for("/antiphon/error", before)[0] == "status"
        assert "/antiphon/mode" not in [name for name, _ in peer.received[before:]]
    # A subscription's port is an integer, not text that reads like one.
    before = peer.send("/antiphon/subscribe", "9000")
    command, reason = peer.wait_for("/antiphon/error", before)
    assert command == "subscribe" and "integer" in reason
    assert process.process.poll() is None
    assert ask(process.socket, {"command": "status"})["ok"] is True
    output = process.output()
    assert "Traceback" not in output and "Unhandled parameter type" not in output
    # The two bundles came within a second: one line, the next says how many in all.
    assert output.count("OSC: ignored a packet") == 1


def test_without_osc_port_the_daemon_has_no_udp_socket(daemon):
    process = daemon()
    assert ask(process.socket, {"command": "status"})["status"]["osc"] is None
    assert udp_sockets(process.process.pid) == []
    assert "OSC" not in process.output()


def test_a_bundle_of_model_swaps_and_a_flood_leave_the_daemon_answering(osc_daemon, player):
    """One 47 kB bundle of 1,400 /antiphon/model and a burst of 20,000 settings: status on
    the control socket is answered within a second, one model is loaded (two at most), the
    flood is shed and counted, and a call played over JACK is still heard and answered (the
    player's connections are in place)."""
    process, peer = osc_daemon()
    keys = player()
    swaps = b"".join(struct.pack(">i", len(element)) + element
                     for element in [osc_message("/antiphon/model", "default")] * 1400)
    packet = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + swaps
    assert 40_000 < len(packet) < 65_000
    waits = []

    def status() -> dict:
        asked = time.monotonic()
        answer = ask(process.socket, {"command": "status"}, timeout=10)
        waits.append(time.monotonic() - asked)
        assert answer["ok"] is True, answer
        return answer["status"]

    peer.send_raw(packet)
    status()  # while the one model loads
    for index in range(20_000):
        try:
            peer.socket.sendto(osc_message("/antiphon/temperature", 0.5 + index % 100 / 200),
                               peer.target)
        except BlockingIOError:  # the socket's buffer full: the kernel drops it anyway
            pass
    for _ in range(5):
        counters = status()["counters"]
        time.sleep(0.2)
    print(f"status answered after {', '.join(f'{wait * 1e3:.0f}' for wait in waits)} ms; "
          f"{counters}")
    assert max(waits) < 1.0, waits
    assert 1 <= counters["model_swaps"] <= 2
    assert counters["osc_refused"] == 1400 - 32 and counters["osc_shed"] > 0
    output = process.output()
    assert "OSC flood: shed" in output and "Traceback" not in output
    heard, answered = len(keys.note_ons()), counters["answers"]
    keys.play(PHRASE, BEAT)
    assert wait_until(lambda: status()["counters"]["phrases"] == 1, ANSWER_BOUND_SECONDS)
    assert wait_until(lambda: len(keys.note_ons()) > heard, ANSWER_BOUND_SECONDS + 5)
    assert wait_until(lambda: status()["counters"]["answers"] > answered, 10)
    assert process.process.poll() is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_osc_open_to_the_network_is_warned_about_at_start(daemon, host):
    port = free_udp_port()
    process = daemon("--osc-port", str(port), "--osc-host", host)
    warning = process.wait_for(r"OSC listens on .*", 5).group(0)
    assert "every network interface" in warning and "anyone who can reach that port" in warning
    # It listens there, and answers as on this machine.
    peer = OscPeer(("127.0.0.1", port))
    try:
        before = peer.send("/antiphon/temperature", 0.9)
        assert peer.wait_for("/antiphon/ok", before) == ["temperature"]
    finally:
        peer.close()


def test_a_call_played_during_an_osc_flood_is_heard_as_one_and_answered(osc_daemon, player):
    process, peer = osc_daemon()
    keys = player()
    flooding = threading.Event()
    sent = [0]

    def flood() -> None:
        index = 0
        while not flooding.is_set():
            index += 1
            try:
                peer.socket.sendto(osc_message("/antiphon/temperature", 0.5 + index % 100 / 200),
                                   peer.target)
                sent[0] += 1
            except BlockingIOError:
                time.sleep(0.0005)

    sender = threading.Thread(target=flood)
    sender.start()
    try:
        time.sleep(0.5)
        heard = len(keys.note_ons())
        keys.play(PHRASE, BEAT)
        assert wait_until(lambda: len(keys.note_ons()) > heard, ANSWER_BOUND_SECONDS + 5)
        asked = time.monotonic()
        counters = ask(process.socket, {"command": "status"}, timeout=10)["status"]["counters"]
        waited = time.monotonic() - asked
    finally:
        flooding.set()
        sender.join(5)
    print(f"{sent[0]} sent; status answered after {waited * 1e3:.0f} ms; {counters}")
    assert waited < 1.0
    assert counters["phrases"] == 1 and counters["osc_shed"] > 0
    assert wait_until(lambda: ask(process.socket, {"command": "status"})["status"]
                      ["counters"]["answers"] == 1, 10)


def test_a_flood_of_model_swaps_loads_a_model_a_second_at_most(osc_daemon, player):
    """/antiphon/model in packets of their own, 500 a second, while a call is played: the
    swaps begin a second apart (the rest superseded), and the call is heard and answered."""
    process, peer = osc_daemon()
    keys = player()
    flooding = threading.Event()

    def flood() -> None:
        while not flooding.is_set():
            peer.socket.sendto(osc_message("/antiphon/model", "default"), peer.target)
            time.sleep(0.002)

    sender = threading.Thread(target=flood)
    started = time.monotonic()
    sender.start()
    try:
        time.sleep(1.0)
        heard = len(keys.note_ons())
        keys.play(PHRASE, BEAT)
        assert wait_until(lambda: len(keys.note_ons()) > heard, ANSWER_BOUND_SECONDS + 5)
    finally:
        flooding.set()
        sender.join(5)
    elapsed = time.monotonic() - started
    counters = ask(process.socket, {"command": "status"})["status"]["counters"]
    print(f"{elapsed:.1f} s of swaps: {counters}")
    assert 1 <= counters["model_swaps"] <= elapsed + 2  # + the one waiting, begun after
    assert counters["osc_superseded"] > 0 and counters["phrases"] == 1
