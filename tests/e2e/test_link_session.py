"""`antiphon run --clock link` over the real JACK server, in a Link session a peer in this
process (the drummer) already runs: the daemon joins it, says so in its status, takes and
gives tempo changes, answers on the session's beats, and leaves it when it stops."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from e2e_support import PHRASE, JackPlayer, answer_onsets_due, antiphon_command, wait_until

from antiphon.daemon.bench.clock import first_notes_sent, onset_errors
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

pytest.importorskip("aalink", reason="aalink is not installed (the link extra: "
                    "pip install -e '.[link]'); `make test` installs it")

from antiphon.daemon.bench.link_peer import SETTLED_SESSION_SECONDS, LinkPeer  # noqa: E402

pytestmark = pytest.mark.jack

PEER_BPM = 97.0


def tempo(process) -> dict:
    return ask(process.socket, {"command": "status"})["status"]["tempo"]


def test_joins_the_session_answers_on_its_beats_and_leaves(daemon, tmp_path, report_measurement):
    peer = LinkPeer(PEER_BPM)
    keys = None
    try:
        time.sleep(SETTLED_SESSION_SECONDS)  # the session the daemon finds is the older one
        trace_path = tmp_path / "trace.jsonl"
        process = daemon("--clock", "link", "--max-opening-rest-beats", "0",
                         "--min-answer-beats", "2", "--max-answer-beats", "2",
                         "--timing-trace", str(trace_path))
        assert wait_until(lambda: tempo(process).get("peers") == 1
                          and abs(tempo(process)["bpm"] - PEER_BPM) < 0.01, 5), tempo(process)
        assert tempo(process)["source"] == "link"
        shown = subprocess.run(antiphon_command("status", "--control-socket", str(process.socket)),
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, "COLUMNS": "200"})
        assert "BPM (link, 1 other peer)" in shown.stdout, shown.stdout + shown.stderr
        assert wait_until(lambda: peer.peers == 1, 2), "the drummer does not see the daemon"
        assert peer.tempo == pytest.approx(PEER_BPM, abs=0.01)

        keys = JackPlayer()
        keys.play(PHRASE, 60.0 / PEER_BPM)
        assert wait_until(lambda: len(keys.note_ons()) >= 1, 10), process.output()
        assert keys.released(process, 5)
        beats = peer.beat_times(time.perf_counter() - 20, time.perf_counter())

        answer = ask(process.socket, {"command": "set", "key": "bpm", "value": "110"})
        assert answer["ok"], answer
        assert wait_until(lambda: abs(peer.tempo - 110) < 0.01, 2), peer.tempo
        peer.tempo = 90.0  # the drummer's change comes back
        assert wait_until(lambda: abs(tempo(process)["bpm"] - 90) < 0.01, 2), tempo(process)
        # The config says 110 still; asked again, the daemon proposes it all the same.
        assert ask(process.socket, {"command": "set", "key": "bpm", "value": "110"})["ok"]
        assert wait_until(lambda: abs(peer.tempo - 110) < 0.01, 2), peer.tempo

        assert process.terminate() == 0, process.output()
        assert wait_until(lambda: peer.peers == 0, 3), "the daemon did not leave the session"
    finally:
        if keys is not None:
            keys.close()
        peer.close()
    assert "Link: 1 other peer in the session" in process.output()
    trace = TimingTrace.read(trace_path)
    # The answer's first note, against the drummer's beat: due on it, and sent near then.
    errors = onset_errors(first_notes_sent(trace), beats)
    report_measurement("answer onset against a Link peer's beat (--clock link, 97 BPM)",
                       f"sent {', '.join(f'{e * 1e3:+.2f}' for e in errors)} ms (daemon's "
                       "trace, against the peer's grid in this process)")
    due_errors = onset_errors(answer_onsets_due(trace), beats)
    assert len(due_errors) == 1 and abs(due_errors[0]) < 0.002, due_errors
