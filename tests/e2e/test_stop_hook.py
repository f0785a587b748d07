"""The service's stop hook (`ExecStopPost=-antiphon panic --only-if-stopped`) over a real
JACK server: it silences the output of a daemon that died, and never touches a daemon that
runs on the same control socket (a service whose start failed because the user already
runs `antiphon run` there restarts over and over; that daemon's music must play on)."""

from __future__ import annotations

import subprocess
import time

import pytest
from e2e_support import antiphon_command, backend_args, client_name, wait_until

pytestmark = pytest.mark.jack

PANIC_MESSAGES = 16 * 130  # per channel: 128 note-offs, All Sound Off, All Notes Off


@pytest.fixture
def synth():
    """A synth there before Antiphon starts, and every message it heard."""
    from antiphon.daemon.midi.ports import RtMidiInput

    heard: list[list[int]] = []
    port = RtMidiInput("jack", None, "rec", client_name("e2e synth"))
    port.set_receiver(lambda arrived, message: heard.append(message))
    yield heard
    port.close()


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(antiphon_command(*args), env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_the_hook_leaves_a_running_daemon_alone(daemon, jack_server, synth):
    process = daemon("--out", "e2e synth")
    socket = str(process.socket)
    assert wait_until(lambda: len(synth) >= PANIC_MESSAGES, timeout=10)  # its start-up panic
    time.sleep(0.3)
    synth.clear()
    # The service's start on the same socket fails, then its stop hook runs, twice over.
    for _ in range(2):
        start = run(jack_server.env, "run", *backend_args(), "--out", "e2e synth",
                    "--control-socket", socket)
        assert start.returncode == 1 and "another Antiphon daemon" in start.stderr, \
            start.stdout + start.stderr
        hook = run(jack_server.env, "panic", "--only-if-stopped", "--control-socket", socket)
        assert hook.returncode == 0, hook.stdout + hook.stderr
        assert f"a daemon (pid {process.process.pid}) runs on" in hook.stdout, hook.stdout
    time.sleep(0.5)
    assert synth == [], f"{len(synth)} messages reached the running daemon's synth"
    assert process.process.poll() is None
    assert "panic:" not in process.output()  # it was never asked to panic


def test_the_hook_silences_what_a_killed_daemon_left_and_only_once(daemon, jack_server,
                                                                    synth):
    process = daemon("--out", "e2e synth")
    assert wait_until(lambda: len(synth) >= PANIC_MESSAGES, timeout=10)
    process.process.kill()  # nothing of Antiphon's runs after this
    process.process.wait()
    time.sleep(0.3)
    synth.clear()
    hook = run(jack_server.env, "panic", "--only-if-stopped", "--control-socket",
               str(process.socket))
    assert hook.returncode == 0, hook.stdout + hook.stderr
    assert (f"{PANIC_MESSAGES} messages sent to '{client_name('e2e synth')}:rec'"
            in hook.stdout), hook.stdout
    assert wait_until(lambda: len(synth) >= PANIC_MESSAGES, timeout=5), len(synth)
    channels = {m[0] & 0x0F for m in synth if m[0] & 0xF0 == 0xB0 and m[1] == 123}
    assert channels == set(range(16))
    synth.clear()
    again = run(jack_server.env, "panic", "--only-if-stopped", "--control-socket",
                str(process.socket))
    assert again.returncode == 0 and "nothing sent" in again.stdout, again.stdout
    time.sleep(0.3)
    assert synth == []
