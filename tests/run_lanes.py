"""`make test-lanes`: the whole suite in two lanes at once, so it takes the time of its
longest lane, not of every test one after another (`make test` runs it in one process:
docs/ARCHITECTURE.md, "Known debts", says why this is not the default yet).

- The timed lane: the tests marked `jack` or `realtime` (tests/conftest.py marks them), in
  two worker processes (pytest-xdist, a whole file to a worker: a file's tests share its
  fixtures). Each worker starts a private JACK server of its own. These tests spend their
  time waiting on real time (a phrase played, an answer heard), not on the CPU, so two of
  them side by side still leave the CPU mostly idle.
- The busy lane: everything else, in one process under `nice -n 19`, so the CPU it takes
  (training small models, parsing scores, benchmarks) never delays a timed test: the
  scheduler gives the timed lane what it asks for first.

Each lane prints its own summary and slowest tests (`--durations`, from pyproject.toml);
the busy lane's output comes after the timed lane's, and the run fails where either does.
Arguments are passed to both lanes' pytest (`make test-lanes PYTEST_ARGS="-x"`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

TIMED = "jack or realtime"
TIMED_WORKERS = 2
NO_TESTS_COLLECTED = 5  # pytest's exit status when a lane's selection is empty


def lane_status(code: int) -> int:
    """A lane left empty by the arguments (`-k` naming a test of the other lane) passes."""
    return 0 if code == NO_TESTS_COLLECTED else code


def main(arguments: list[str]) -> int:
    started = time.monotonic()
    pytest = [sys.executable, "-m", "pytest"]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as busy_log:
        busy = subprocess.Popen(
            ["nice", "-n", "19", *pytest, "-m", f"not ({TIMED})", *arguments],
            stdin=subprocess.DEVNULL, stdout=busy_log, stderr=subprocess.STDOUT)
        try:
            timed = subprocess.run(
                [*pytest, "-m", TIMED, "-n", str(TIMED_WORKERS), "--dist", "loadfile",
                 *arguments], stdin=subprocess.DEVNULL, check=False).returncode
            busy_code = busy.wait()
        finally:
            if busy.poll() is None:  # interrupted: the busy lane stops with the timed one
                busy.terminate()
                busy.wait()
        print(f"\n{'=' * 30} the busy lane (not {TIMED}), under nice {'=' * 30}", flush=True)
        busy_log.seek(0)
        sys.stdout.write(busy_log.read())
    elapsed = time.monotonic() - started
    print(f"\nboth lanes: {elapsed // 60:.0f} min {elapsed % 60:.0f} s "
          f"(timed lane exit {timed}, busy lane exit {busy_code})", flush=True)
    return lane_status(timed) or lane_status(busy_code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
