"""Ports and the MIDI system coming and going under `antiphon run`, stop signals of every
kind, and `antiphon panic` after a kill: over a real JACK server, with a recorder that must
hear every note released."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import rtmidi
from e2e_support import (
    ANSWER_BOUND_SECONDS,
    BEAT,
    PHRASE,
    JackPlayer,
    antiphon_command,
    client_name,
    wait_until,
)
from test_midi_edge import answer_over, answered

# These tests kill and restart JACK servers of their own (`own_jack`), never a worker's.
pytestmark = pytest.mark.jack


def test_input_port_deleted_and_recreated_is_reconnected(daemon):
    # JACK without realtime, on a loaded machine, now and then loses a whole cycle of MIDI
    # into Antiphon's input (libjack says "MidiBufferMixdown - invalid source buffer"): a
    # note-off lost so holds the call open for --max-hold-beats (8 beats, 4 s, by default,
    # longer than an answer is waited for here). Two beats keep such a call answered.
    process = daemon("--in", "e2e keyboard", "--max-answer-beats", "2", "--max-hold-beats", "2")
    player = JackPlayer(in_port=None)
    try:
        process.wait_for(f"listening to '{client_name('e2e keyboard')}:keys'", timeout=3)
        for pause in (0.5, 0.0):  # gone for a while; gone and back between two looks
            before = len(player.note_ons())
            player.play(PHRASE[:3], BEAT)
            answered(player, before, process)
            answer_over(player, process)
            player.keyboard.delete()
            time.sleep(pause)
            player.keyboard = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client_name("e2e keyboard"))
            player.keyboard.open_virtual_port("keys")
            time.sleep(0.5)  # the keeper looks every 0.1 s
            before = len(player.note_ons())
            player.play(PHRASE[:3], BEAT)
            answered(player, before, process)
            answer_over(player, process)
    finally:
        player.close()
    assert "went away" in process.output()


def test_status_shows_what_a_waiting_input_wants_beside_its_own_port(daemon):
    process = daemon("--in", "e2e absent keyboard")
    shown = subprocess.run(antiphon_command("status", "--control-socket", str(process.socket)),
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stdout + shown.stderr
    (row,) = [line for line in shown.stdout.splitlines() if "input" in line[:12]]
    # Its own port is open for the keyboard to come to; what it waits for is said apart.
    assert "Antiphon In:in" in row and "(wants e2e absent keyboard)" in row, row
    assert "waiting" in row, row


def test_a_keyboard_unplugged_with_keys_and_pedal_down_leaves_nothing_on(daemon):
    """With MIDI thru, the player holds a chord in the pedal and the keyboard's client goes
    (unplugged, crashed): what thru sounded is released, and the next keyboard's phrase is
    a phrase of its own (the pedal is not taken as still down)."""
    process = daemon("--thru", "--channel", "2", "--max-answer-beats", "2")
    player = JackPlayer()
    try:
        player.keyboard.send_message([0xB0, 64, 127])
        for pitch in (40, 43, 47):
            player.keyboard.send_message([0x90, pitch, 90])
        assert wait_until(lambda: len(player.sounding()) == 3, 2), player.messages()
        player.keyboard.close_port()  # unplugged with its keys and pedal down
        assert wait_until(lambda: not player.sounding(), 2), player.sounding()
        assert wait_until(lambda: [0xB0, 64, 0] in [m for _, m in player.messages()], 1)
        player.keyboard.open_port(player_port(player), name="keys")
        before = len(player.note_ons())
        player.play(PHRASE[:3], BEAT)
        answered(player, before + 3, process)  # the call's three, through thru, then more
    finally:
        player.close()


def player_port(player: JackPlayer) -> int:
    return next(index for index, name in enumerate(player.keyboard.get_ports())
                if "Antiphon In" in name)


def test_output_port_recreated_gets_the_cut_answer_released(daemon):
    from antiphon.daemon.midi.ports import RtMidiInput

    process = daemon("--out", "e2e recorder", "--min-answer-beats", "16",
                     "--max-answer-beats", "16", "--no-panic-on-start")
    player = JackPlayer(out_port=None)
    try:
        player.play(PHRASE[:3], BEAT)
        assert wait_until(lambda: player.sounding(), timeout=ANSWER_BOUND_SECONDS + 2), (
            process.output()[-2000:])
        player.recorder.close()  # the synth quits with the answer's notes on
        time.sleep(0.3)
        heard = []
        player.recorder = RtMidiInput("jack", None, "rec", client_name("e2e recorder"))
        player.recorder.set_receiver(lambda t, m: heard.append(m))
        assert wait_until(lambda: any(m[0] & 0xF0 == 0x80 for m in heard), timeout=3), (
            f"no note-off reached the new port; antiphon said:\n{process.output()[-2000:]}")
        process.wait_for(r"released \d+ notes of a cut answer", timeout=2)
    finally:
        player.close()


def start_jackd(name: str) -> subprocess.Popen:
    jackd = subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r",
                              "48000", "-p", "256"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    # Asked from another process (jackd2's jack_wait): this one's libjack, whose clients saw
    # the last server killed under them, can crash on a probe of the next.
    ready = subprocess.run(["jack_wait", "--server", name, "--wait", "--timeout", "10"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    assert ready.returncode == 0, "jackd did not start"
    return jackd


@pytest.fixture
def own_jack(jack_server, monkeypatch):
    """A JACK server of this test's own, to kill and restart (the session's stays up)."""
    name = f"antiphon-restart-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    servers = [start_jackd(name)]
    env = {**jack_server.env, "JACK_DEFAULT_SERVER": name}
    yield name, env, servers
    if servers[-1].poll() is not None:
        # A JACK server killed with SIGKILL leaves its entry in JACK's registry of servers
        # (eight at most on a machine); one started under the same name reclaims it, and a
        # SIGTERM then removes it.
        servers.append(start_jackd(name))
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(10)


def patched_player() -> JackPlayer:
    """A keyboard and a synth that Antiphon does not connect by itself, connected to its
    ports by another program (a patchbay, a session manager), which then quits."""
    import jack

    player = JackPlayer(in_port=None, out_port=None)
    patchbay = jack.Client(client_name("e2e patchbay"), no_start_server=True)
    try:
        patchbay.connect(f"{client_name('e2e keyboard')}:keys", "Antiphon In:in")
        patchbay.connect("Antiphon Out:out", f"{client_name('e2e recorder')}:rec")
    finally:
        patchbay.close()  # before any server dies: libjack crashes closing a dead one's client
    time.sleep(0.2)
    return player


def patched(patchbay) -> bool:
    keyboard, recorder = client_name("e2e keyboard"), client_name("e2e recorder")
    keys = {port.name for port in patchbay.get_all_connections(f"{keyboard}:keys")}
    synth = {port.name for port in patchbay.get_all_connections(f"{recorder}:rec")}
    return "Antiphon In:in" in keys and "Antiphon Out:out" in synth


def test_jack_server_restart_is_survived_with_the_connections_others_made(daemon, own_jack):
    """A JACK server that dies takes every connection with it; when it is back, Antiphon
    makes again the ones a patchbay had made (it knows no port by name here), as soon as
    the keyboard and the synth are back."""
    import jack

    name, env, servers = own_jack
    # A lost note-off (JACK without realtime, on a loaded machine) holds a call 1 s, not 4.
    process = daemon("--max-answer-beats", "2", "--max-hold-beats", "2",
                     "--reconnect-timeout", "30", env=env)
    before = patched_player()
    before.play(PHRASE[:3], BEAT)
    answered(before, 0, process)
    answer_over(before, process)
    time.sleep(0.6)  # the keeper looks at the connections every half second
    servers[0].kill()
    servers[0].wait()
    killed = time.perf_counter()
    process.wait_for(r"MIDI system (is gone|stopped answering)", timeout=3)
    detected = time.perf_counter() - killed
    assert detected < 2.5, detected
    # Its clients die with the server: closed now, as the daemon closes its own (libjack
    # crashes closing one once a new server runs), and its reader thread ends with them.
    before.close()
    servers.append(start_jackd(name))
    process.wait_for(r"MIDI system is back", timeout=15)  # closing dead clients takes ~1 s each
    process.wait_for(r"ready|listening|answering", timeout=1)
    # The keyboard and the synth come back (their clients restarted); nobody connects them.
    player = JackPlayer(in_port=None, out_port=None)
    watcher = jack.Client(client_name("e2e watcher"), no_start_server=True)
    try:
        assert wait_until(lambda: patched(watcher), timeout=5), process.output()[-3000:]
        player.play(PHRASE[:3], BEAT)
        answered(player, 0, process)
    finally:
        watcher.close()
        player.close()
    assert process.process.poll() is None
    assert (f"connected 'Antiphon In:in' from '{client_name('e2e keyboard')}:keys' again"
            in process.output())


def test_a_midi_system_gone_for_good_ends_the_daemon_non_zero(daemon, own_jack):
    _, env, servers = own_jack
    process = daemon("--reconnect-timeout", "2", env=env)
    servers[0].kill()
    servers[0].wait()
    try:
        code = process.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running with no MIDI system:\n{process.output()}")
    process._reader.join(2)
    assert code != 0
    assert "--reconnect-timeout" in process.output()


@pytest.mark.parametrize("signals, expected_code", [
    ([signal.SIGTERM], 0),
    ([signal.SIGINT], 0),
    ([signal.SIGHUP], 0),
    ([signal.SIGQUIT], 0),
    ([signal.SIGINT] * 6, 130),  # a burst of Ctrl-C
    ([signal.SIGTERM, signal.SIGHUP, signal.SIGINT], 130),
    ([signal.SIGUSR1], 0),  # signals whose default would kill it with its notes sounding
    ([signal.SIGALRM], 0),
    ([signal.SIGRTMIN + 2], 0),
    ([signal.SIGUSR2, signal.SIGXCPU], 130),
], ids=["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGINT burst", "mixed burst", "SIGUSR1",
        "SIGALRM", "SIGRTMIN+2", "SIGUSR2 then SIGXCPU"])
def test_every_stop_signal_releases_every_note(daemon, signals, expected_code):
    process = daemon("--min-answer-beats", "16", "--max-answer-beats", "16")
    player = JackPlayer()
    try:
        player.play(PHRASE[:3], BEAT)
        assert wait_until(lambda: player.sounding(), timeout=ANSWER_BOUND_SECONDS + 2), (
            process.output()[-2000:])
        for signum in signals:
            process.process.send_signal(signum)
            time.sleep(0.002)
        code = process.process.wait(timeout=15)
        time.sleep(0.3)  # the last note-offs cross JACK
        assert player.sounding() == {}, f"notes left sounding: {player.sounding()}"
    finally:
        player.close()
    assert code == expected_code, process.output()[-2000:]
    if expected_code == 0:  # a clean stop counts what it released: notes were sounding
        process._reader.join(2)
        released = process.wait_for(r"(\d+) notes released at stop", timeout=1).group(1)
        assert int(released) >= 1, process.output()[-2000:]


def process_state(pid: int) -> str:
    """R, S, T (stopped)... as the kernel has it (the field after the command's name)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_ctrl_z_is_refused_the_answer_plays_on_and_ends_clean(daemon):
    process = daemon("--min-answer-beats", "4", "--max-answer-beats", "4")
    player = JackPlayer()
    try:
        player.play(PHRASE[:3], BEAT)
        assert wait_until(lambda: player.sounding(), timeout=ANSWER_BOUND_SECONDS + 2), (
            process.output()[-2000:])
        process.process.send_signal(signal.SIGTSTP)
        process.wait_for(r"Ctrl-Z \(SIGTSTP\) refused", timeout=2)
        assert process_state(process.process.pid) != "T"  # not stopped with notes sounding
        assert wait_until(lambda: not player.sounding(), timeout=4 * BEAT + 2)
        before = len(player.note_ons())
        player.play(PHRASE[:3], BEAT)  # still listening, still answering
        assert wait_until(lambda: len(player.note_ons()) > before, ANSWER_BOUND_SECONDS + 2)
        assert process.terminate() == 0
        time.sleep(0.3)
        assert player.sounding() == {}, f"notes left sounding: {player.sounding()}"
    finally:
        player.close()


def test_a_starting_daemon_silences_its_output_first(daemon, jack_server):
    """Every message of the start-up panic reaches a synth that was there first: it is
    sent once the connection is in JACK's running graph, not while it is being made."""
    from antiphon.daemon.midi.ports import RtMidiInput

    xruns_before = jack_xruns(jack_server)
    heard: list[list[int]] = []
    # There before Antiphon starts.
    synth = RtMidiInput("jack", None, "rec", client_name("e2e synth"))
    synth.set_receiver(lambda arrived, message: heard.append(message))
    try:
        process = daemon("--out", "e2e synth")
        wait_until(lambda: len(heard) >= 16 * 130, timeout=10)
        time.sleep(0.2)  # nothing more than the panic comes
        said = process.output()[-2000:]
        per_channel = [sum(1 for m in heard if m[0] & 0x0F == c) for c in range(16)]
        # A JACK server without realtime drops whole cycles when its clients are starved
        # of CPU ("was not finished" in its log): said beside a failure.
        xruns = jack_xruns(jack_server) - xruns_before
        assert len(heard) == 16 * 130, (
            f"{len(heard)} heard {per_channel}; JACK xruns meanwhile: {xruns}; antiphon "
            f"said:\n{said}")
        for channel in range(16):
            mine = [m for m in heard if m[0] & 0x0F == channel]
            offs = sorted(m[1] for m in mine if m[0] & 0xF0 == 0x80)
            controllers = sorted(m[1] for m in mine if m[0] & 0xF0 == 0xB0)
            assert offs == list(range(128)) and controllers == [120, 123], (channel, said)
    finally:
        synth.close()


def jack_xruns(jack_server) -> int:
    """Cycles the session's JACK server found a client late for, as its log counts them."""
    try:
        return jack_server.log_path.read_text(errors="replace").count("was not finished")
    except OSError:
        return 0


def test_panic_after_sigkill_releases_every_note(daemon, jack_server):
    process = daemon("--min-answer-beats", "16", "--max-answer-beats", "16")
    player = JackPlayer()
    try:
        player.play(PHRASE[:3], BEAT)
        assert wait_until(lambda: len(player.sounding()) >= 1,
                          timeout=ANSWER_BOUND_SECONDS + 2), process.output()[-2000:]
        process.process.kill()  # nothing of Antiphon's runs after this
        process.process.wait()
        assert player.sounding(), "a note should be left sounding by the kill"
        result = subprocess.run(antiphon_command("panic", "--out", "e2e recorder"),
                                env=jack_server.env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2080 messages" in result.stdout
        assert wait_until(lambda: not player.sounding(), timeout=2), player.sounding()
        channels = {m[0] & 0x0F for _, m in player.messages() if m[0] & 0xF0 == 0xB0 and
                    m[1] == 123}
        assert channels == set(range(16))
    finally:
        player.close()


def test_timing_trace_records_what_came_in(daemon, tmp_path):
    from antiphon.daemon.play.timing_trace import TimingTrace

    path = tmp_path / "trace.jsonl"
    process = daemon("--timing-trace", str(path), "--max-answer-beats", "2")
    player = JackPlayer()
    try:
        sent_at = time.perf_counter()
        player.keyboard.send_message([0x99, 36, 100])  # another channel: received, not kept
        player.play(PHRASE[:3], BEAT)
        answered(player, 0, process)
        answer_over(player, process)
    finally:
        player.close()
    assert process.terminate() == 0
    trace = TimingTrace.read(path)
    notes = [(arrived, m, kept) for arrived, m, kept in trace.receives if len(m) == 3]
    assert notes[0][1] == (0x99, 36, 100) and notes[0][2] is False
    kept = [m for _, m, k in notes if k]
    assert [m[1] for m in kept if m[0] == 0x90] == [pitch for pitch, _ in PHRASE[:3]]
    assert all(sent_at - 0.05 < arrived < sent_at + 10 for arrived, _, _ in notes)


@pytest.mark.parametrize("where", ["a folder", "inside a file", "a missing folder"])
def test_an_unwritable_timing_trace_is_refused_at_start(jack_server, tmp_path, where):
    (tmp_path / "file").write_text("x")
    path = {"a folder": tmp_path, "inside a file": tmp_path / "file" / "t.jsonl",
            "a missing folder": tmp_path / "nowhere" / "t.jsonl"}[where]
    result = subprocess.run(antiphon_command("run", "--timing-trace", str(path)),
                            env={**jack_server.env, "COLUMNS": "300"}, capture_output=True,
                            text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "--timing-trace" in output and "Traceback" not in output
