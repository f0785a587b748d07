"""Shared fixtures: a private JACK server for end-to-end tests, measurements that the
test run reports at its end (e.g. the daemon's answer latency), and the rule that every
test joins the threads it started."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

_measurements: list[tuple[str, str]] = []
MEASUREMENT = "measurement"  # the user property a measurement travels in (from any worker)
# How long a thread a test started may take to end after the test's own teardown: a
# thread told to stop finishes what it is doing first (a loop's last poll, a socket's
# accept timeout).
THREAD_GRACE_SECONDS = 2.0
# Threads a library keeps for the whole process, started by whichever test first used it:
# tqdm's monitor (one per process, watching every progress bar; training shows bars).
PROCESS_THREADS = frozenset({"tqdm_monitor"})
# The JACK server of these tests runs the dummy backend without realtime scheduling: on a
# loaded machine it can drop a message between two clients (its log counts the xruns). A
# JACK test that fails runs once more; the summary names each one that did, with why it
# failed the first time, and a failure that comes again fails the run.
JACK_RERUNS = 1

# The tests never meet the user's own Antiphon: not its config file, not its models, not the
# control socket of a daemon it runs. Short paths: a Unix socket's path is at most 107 bytes.
TEST_HOME = Path(tempfile.mkdtemp(prefix="aph-"))
for _variable, _folder in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                           ("XDG_RUNTIME_DIR", "run")):
    (TEST_HOME / _folder).mkdir(mode=0o700)
    os.environ[_variable] = str(TEST_HOME / _folder)


@dataclass(frozen=True)
class JackServer:
    name: str  # the JACK_DEFAULT_SERVER clients must use
    env: dict[str, str]  # os.environ plus what a subprocess needs to reach this server
    log_path: Path


def _unavailable(reason: str) -> None:
    """Skip, except on CI, where a missing JACK means a broken setup: fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the JACK end-to-end tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory) -> JackServer:
    """A JACK server of our own (dummy driver, no audio hardware), for the whole session.

    It has a unique name, so parallel test runs and a user's own JACK never meet.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        _unavailable("jackd not found: `apt-get install jackd2` to run the JACK e2e tests")
    import rtmidi

    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        _unavailable("this python-rtmidi build has no JACK support")
    from antiphon.daemon.midi.jack_server import private_jack_server

    log_path = tmp_path_factory.mktemp("jack") / "jackd.log"
    try:
        with private_jack_server("antiphon-test", log_path) as env:
            yield JackServer(env["JACK_DEFAULT_SERVER"], env, log_path)
    except OSError as err:
        pytest.fail(str(err))


@pytest.fixture
def report_measurement(request):
    """Record a figure to show in the test run's summary: report_measurement(name, text).
    It travels in the test's report, so a run spread over worker processes shows it too."""

    def report(name: str, text: str) -> None:
        request.node.user_properties.append((MEASUREMENT, (name, text)))

    return report


def pytest_runtest_logreport(report) -> None:
    # The teardown's report holds every property the test recorded, its fixtures' too.
    if report.when == "teardown":
        _measurements.extend(value for key, value in report.user_properties
                             if key == MEASUREMENT)


# A test run started in the background of a script (`make test`'s busy lane, a CI step)
# inherits an ignored SIGINT, and so would every process it starts: the tests that stop an
# `antiphon` with Ctrl-C's signal would wait for nothing. The run takes Python's own back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The signals a command run in-process may take over: a test must give them back, or every
# process the test run starts later inherits what it left (an ignored SIGINT: a Ctrl-C that
# a later test sends to its own `antiphon` would never arrive).
PROCESS_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@pytest.fixture(autouse=True)
def signals_given_back(request):
    """Fails a test that leaves a stop signal's handling changed, and gives it back."""
    before = {signum: signal.getsignal(signum) for signum in PROCESS_SIGNALS}
    yield
    changed = [signal.Signals(signum).name for signum, handler in before.items()
               if signal.getsignal(signum) is not handler]
    for signum, handler in before.items():
        signal.signal(signum, handler)
    if changed:
        pytest.fail(f"{request.node.nodeid} left the handling of {', '.join(changed)} "
                    "changed", pytrace=False)


@pytest.fixture(autouse=True)
def threads_joined(request):
    """Every test joins the threads it started: a thread left running logs into a closed
    capture ("Logging error") or acts in the next test. Runs after the test's own
    fixtures are torn down; a thread still alive after THREAD_GRACE_SECONDS fails it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_SECONDS
    left = [thread for thread in threading.enumerate()
            if thread not in before and thread.name not in PROCESS_THREADS]
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in left if thread.is_alive()]
    if alive:
        pytest.fail(f"{request.node.nodeid} left threads running: {', '.join(alive)}",
                    pytrace=False)


# Tests that measure real time (a send's lateness, a rate, a deadline, an answer on the
# grid) besides the JACK ones: whoever runs tests in parallel runs `-m "not (jack or
# realtime)"` there, and these alone, since another process's load would make them late.
# Paths from tests/.
REALTIME_FILES = frozenset({
    "e2e",  # every end-to-end test: a daemon playing in real time
    "daemon/cli/test_demo.py", "daemon/play/test_best_of_live.py",
    "daemon/play/test_clock_out.py", "daemon/play/test_link_clock.py",
    "daemon/play/test_output_scheduler.py", "daemon/play/test_timing_trace.py",
    "daemon/control/test_osc_limits.py", "daemon/control/test_control_socket_limits.py",
    "daemon/midi/test_system_watch.py", "daemon/service/test_signal_bursts.py",
    "daemon/record/test_feed_timing.py", "daemon/control/web/test_web_stream.py",
    "daemon/control/web/test_page_in_browser.py",
})
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        # A test that takes the private JACK server needs JACK, marked or not.
        if "jack_server" in getattr(item, "fixturenames", ()) and \
                not item.get_closest_marker("jack"):
            item.add_marker(pytest.mark.jack)
        relative = Path(item.path).resolve().relative_to(TESTS).as_posix()
        if any(relative == path or relative.startswith(f"{path}/") for path in REALTIME_FILES):
            item.add_marker(pytest.mark.realtime)
        # A test of real time runs once more after a failure, as a JACK test does: this
        # VM's scheduling can make one late; the summary names it with its first failure.
        timed = item.get_closest_marker("jack") or item.get_closest_marker("realtime")
        if timed and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=JACK_RERUNS, reruns_delay=1))


def pytest_terminal_summary(terminalreporter) -> None:
    reruns = terminalreporter.stats.get("rerun", [])
    if reruns:
        terminalreporter.section("JACK and real-time tests run again after a failure")
        for report in reruns:
            lines = str(report.longrepr).strip().splitlines() or ["?"]
            error = next((line[1:].strip() for line in lines if line.startswith("E ")), "")
            terminalreporter.write_line(f"{report.nodeid}: first failed at {lines[-1]} {error}")
    if not _measurements:
        return
    terminalreporter.section("measurements")
    for name, text in _measurements:
        terminalreporter.write_line(f"{name}: {text}")
