"""`antiphon run` makes no network traffic: traced with strace while it answers over JACK.

Nothing Antiphon does by default needs the network: MIDI goes over JACK's Unix sockets and
the control socket is a Unix socket. A library can still phone home. The official Linux
wheels of onnxruntime and onnxruntime-gpu from 1.29 on start a telemetry uploader when the
module is imported: they write a device id and an event database under
~/.cache/Microsoft/DeveloperTools/.onnxruntime at once, and about nine seconds later query
DNS for mobile.events.data.microsoft.com, again and again while the process runs. It stays
off only with ORT_DISABLE_TELEMETRY=1 in the environment before the import
(`onnxruntime.disable_telemetry_events()` does not stop it) or under a CI variable, so the
daemon here runs with those variables removed: on CI too it runs as a musician runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import e2e_support
import pytest
from e2e_support import ANSWER_BOUND_SECONDS, BEAT, PHRASE, JackPlayer, wait_until

pytestmark = pytest.mark.jack

# Long enough for an uploader that starts at import to show itself (onnxruntime's first
# upload comes about 9 s after the import); the device-id files give it away sooner.
OBSERVE_SECONDS = 15.0
# strace: follow every thread and child, stop the tracee only at network syscalls
# (--seccomp-bpf keeps JACK's realtime thread out of it), name each socket's kind (-yy:
# "<UDP:[...]>"), keep strings long enough to show a DNS query's host name.
STRACE_OPTIONS = ["-f", "--seccomp-bpf", "-qq", "-yy", "-e", "trace=%network",
                  "-e", "signal=none", "-s", "128"]
# Variables that change what a library does with the network: onnxruntime's own opt-out and
# the CI markers it reads (it keeps quiet under CI). The test wants the daemon's own
# behaviour, not the environment's.
LIBRARY_NETWORK_VARIABLES = (
    "ORT_DISABLE_TELEMETRY", "ORT_RUNNING_UNIT_TESTS", "CI", "TF_BUILD", "GITHUB_ACTIONS",
    "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE",
    "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
)
SOCKET_FAMILY = re.compile(r"\bsocket(?:pair)?\((\w+)")
IP_ADDRESS = re.compile(r"sa_family=AF_INET6?\b")
IP_SOCKET = re.compile(r"<(?:TCP|UDP|UDPLITE|RAW|SCTP)v?6?:")  # -yy's name of an IP socket


def _unavailable(reason: str) -> None:
    """Skip, except on CI, where a missing tool means a broken setup: fail (the rule of
    the JACK fixture in tests/conftest.py)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the end-to-end tests must run)")
    pytest.skip(reason)


@pytest.fixture
def strace_trace(monkeypatch, tmp_path) -> Path:
    """Makes the `daemon` fixture start `antiphon` under strace; yields the trace's path."""
    strace = shutil.which("strace")
    if strace is None:
        _unavailable("strace not found: `apt-get install strace` to check the daemon's "
                     "network silence")
    probe = subprocess.run([strace, *STRACE_OPTIONS, "-o", os.devnull, "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        _unavailable(f"strace cannot trace here (is ptrace permitted?): {probe.stderr.strip()}")
    trace_path = tmp_path / "network.strace"
    command = e2e_support.antiphon_command
    monkeypatch.setattr(e2e_support, "antiphon_command", lambda *args: [
        strace, *STRACE_OPTIONS, "-o", str(trace_path), *command(*args)])
    return trace_path


def network_use(trace: str) -> list[str]:
    """The traced syscalls that reach past this machine's Unix sockets: a socket of any
    family but AF_UNIX (AF_INET, AF_INET6, AF_NETLINK...), an IP address handed to
    connect, sendto, sendmsg or bind, or any call on an IP socket."""
    found = []
    for line in trace.splitlines():
        family = SOCKET_FAMILY.search(line)
        if ((family and family.group(1) != "AF_UNIX") or IP_ADDRESS.search(line)
                or IP_SOCKET.search(line)):
            found.append(line)
    return found


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_antiphon_run_makes_no_network_traffic(strace_trace, jack_server, daemon, tmp_path):
    # A fresh home (XDG_* unset, so ~/.cache is in it): what the daemon leaves there shows,
    # and the developer's own config and cache stay out of it.
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in jack_server.env.items()
           if key not in LIBRARY_NETWORK_VARIABLES and not key.startswith("XDG_")}
    env["HOME"] = str(home)
    started = time.monotonic()
    process = daemon("--max-answer-beats", "4", env=env)
    strace_pid = process.process.pid
    children = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
    assert children, f"strace runs no daemon; it said:\n{process.output()}"
    player = JackPlayer()
    try:
        player.play(PHRASE, BEAT)
        assert wait_until(lambda: player.note_ons(), timeout=ANSWER_BOUND_SECONDS + 2), (
            f"no answer, so the model did not step; antiphon said:\n{process.output()}")
        time.sleep(max(4 * BEAT + 0.5, OBSERVE_SECONDS - (time.monotonic() - started)))
        # SIGTERM to the daemon itself: strace, signalled, would stop tracing and detach.
        os.kill(int(children[0]), signal.SIGTERM)
        try:
            process.process.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"antiphon did not stop on SIGTERM:\n{process.output()}")
        code = process.terminate()  # strace exits with the daemon's status
    finally:
        player.close()
    assert code == 0, process.output()

    offending = network_use(strace_trace.read_text(errors="replace"))
    left = files_under(home / ".cache")
    assert not offending and not left, (
        f"antiphon run used the network in {len(offending)} syscalls and left "
        f"{left or 'nothing'} in the user's cache. onnxruntime >= 1.29 phones home (a DNS "
        "query's sendto line shows the host) unless ORT_DISABLE_TELEMETRY=1 is set before "
        "it is imported:\n" + "\n".join(offending[:20]))
