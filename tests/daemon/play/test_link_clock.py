"""`--clock link`: the Link clock joins a session a peer (a second Link in this process,
found by Link's multicast discovery as any peer on the machine is) already runs, takes its
tempo and its bar, and a tempo change on either side reaches the other."""

from __future__ import annotations

import sys
import time

import pytest

from antiphon.daemon.play.link_clock import LINK_MISSING, LinkClock

aalink = pytest.importorskip("aalink", reason="aalink is not installed (the link extra: "
                             "pip install -e '.[link]'); `make test` installs it")

from antiphon.daemon.bench.link_peer import SETTLED_SESSION_SECONDS, LinkPeer  # noqa: E402

PEER_BPM = 97.0
JOIN_TIMEOUT_SECONDS = 3.0


def wait_for(condition, timeout: float = JOIN_TIMEOUT_SECONDS) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def peer():
    band = LinkPeer(PEER_BPM)
    # The older session: the one a newcomer joins. (A session begins anew when its last
    # other peer leaves, so a peer shared between tests would be young again after each.)
    time.sleep(SETTLED_SESSION_SECONDS)
    yield band
    band.close()


@pytest.fixture
def joined(peer):
    clock = LinkClock(120.0, quantum=4)
    if not wait_for(lambda: clock.peers >= 1 and peer.peers >= 1):
        clock.close()
        pytest.skip("two Link peers in one process did not find each other within 3 s: Link "
                    "discovers peers by UDP multicast (224.76.78.75:20808) on the machine's "
                    "interfaces, and none carries multicast here")
    yield clock
    clock.close()


def bar_offsets_ms(clock: LinkClock, peer: LinkPeer, samples: int = 20) -> list[float]:
    """How far (ms) the clock's bar phase is from the peer's at the same moments."""
    offsets = []
    for _ in range(samples):
        at, peer_beat = peer.sample()
        difference = (clock.beats_at(at) - peer_beat + 2.0) % 4.0 - 2.0  # bars of 4 beats
        offsets.append(difference * 60.0 / peer.tempo * 1e3)
        time.sleep(0.007)  # across several of the clock's refreshes
    return offsets


def test_joins_the_session_with_its_tempo_and_bar(joined, peer):
    assert wait_for(lambda: abs(joined.bpm - PEER_BPM) < 0.01), (joined.bpm, peer.tempo)
    assert peer.tempo == pytest.approx(PEER_BPM, abs=0.01)  # the newcomer took it on
    offsets = bar_offsets_ms(joined, peer)
    assert max(abs(offset) for offset in offsets) < 1.0, offsets
    # seconds_at is beats_at's inverse: the clock's next bar line is the peer's.
    at, peer_beat = peer.sample()
    next_bar = (joined.beats_at(at) // 4 + 1) * 4
    peer_bar_at = at + ((peer_beat // 4 + 1) * 4 - peer_beat) * 60.0 / peer.tempo
    assert abs(joined.seconds_at(next_bar) - peer_bar_at) < 0.001


def test_a_tempo_change_on_either_side_reaches_the_other(joined, peer):
    assert wait_for(lambda: abs(joined.bpm - PEER_BPM) < 0.01), (joined.bpm, peer.tempo)
    joined.set_bpm(100.0)  # `antiphon set bpm 100`
    assert wait_for(lambda: abs(peer.tempo - 100.0) < 0.01), peer.tempo
    peer.tempo = 133.0  # the drummer's
    assert wait_for(lambda: abs(joined.bpm - 133.0) < 0.01), joined.bpm
    time.sleep(0.05)  # past the moment of the change: the anchor is the new tempo's
    offsets = bar_offsets_ms(joined, peer)
    assert max(abs(offset) for offset in offsets) < 1.0, offsets
    # Closing leaves the session.
    joined.close()
    assert wait_for(lambda: peer.peers == 0), "the peer still sees the clock"
    with pytest.raises(OSError, match="closed"):
        joined.set_bpm(110.0)


def test_a_tempo_out_of_range_is_refused():
    clock = LinkClock(120.0)
    try:
        with pytest.raises(ValueError, match="tempo must be"):
            clock.set_bpm(1000.0)
        assert clock.bpm == 120.0
    finally:
        clock.close()


def test_without_aalink_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "aalink", None)  # `import aalink` raises ImportError
    with pytest.raises(OSError) as raised:
        LinkClock(120.0)
    assert str(raised.value) == LINK_MISSING
