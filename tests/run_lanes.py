"""`make test-lanes`: the whole suite in three lanes, so it takes about the time of the timed
and solo lanes one after the other, with the busy lane beside them, not of every test one
after another (`make test` runs two: the timed lane in one process, the busy lane beside
it; docs/ARCHITECTURE.md, "Tests" and "Known debts", says why).

- The timed lane: the tests marked `jack` or `realtime` (tests/conftest.py marks them), in
  three worker processes (pytest-xdist, a whole file to a worker: a file's tests share its
  fixtures). Each worker starts a private JACK server of its own. These tests spend their
  time waiting on real time (a phrase played, an answer heard), not on the CPU, so three of
  them side by side still leave the CPU mostly idle. What a loaded JACK without realtime
  scheduling drops between two clients is judged by the daemon's own timing trace
  (tests/e2e/e2e_support.py: `JackPlayer.released`), and a test that fails runs once more.
- The busy lane, beside it: everything else, in one process under `nice -n 19`, so the CPU
  it takes (training small models, parsing scores, benchmarks) never delays a timed test:
  the scheduler gives the timed lane what it asks for first.
- The solo lane, once the timed lane has ended: the tests marked `solo`, in one process,
  with no other timed test beside them (the busy lane, under nice, may still run). They
  follow a DAW's MIDI clock to its beats (beside other JACK workers on two cores, pulses
  come late or lost often enough to move the count for a while), flood the MIDI system, or
  time Chromium drawing.

Each lane prints its own summary and slowest tests (`--durations`, from pyproject.toml);
the busy lane's output comes last, and the run fails where any lane does.
Arguments are passed to every lane's pytest (`make test-lanes PYTEST_ARGS="-x"`).

`--timed-workers 1` (first, before pytest's arguments; `make test` gives it) runs the timed
lane in one process, the solo tests among the rest, one JACK test at a time as in a run of
the whole suite in one process, with the busy lane beside it under nice: slower than three
workers, but no timed test has another beside it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

TIMED = "(jack or realtime) and not solo"
TIMED_ALONE = "jack or realtime or solo"  # the timed lane in one process: solo ones too
BUSY = "not (jack or realtime or solo)"
SOLO = "solo"
TIMED_WORKERS = 3
NO_TESTS_COLLECTED = 5  # pytest's exit status when a lane's selection is empty


def lane_status(code: int) -> int:
    """A lane left empty by the arguments (`-k` naming a test of another lane) passes."""
    return 0 if code == NO_TESTS_COLLECTED else code


def banner(title: str) -> None:
    print(f"\n{'=' * 30} {title} {'=' * 30}", flush=True)


def timed_workers(arguments: list[str]) -> tuple[int, list[str]]:
    """`--timed-workers N` (first, if given) and the arguments for pytest."""
    if arguments[:1] == ["--timed-workers"] and len(arguments) > 1 and arguments[1].isdigit():
        return max(1, int(arguments[1])), arguments[2:]
    return TIMED_WORKERS, arguments


def main(arguments: list[str]) -> int:
    started = time.monotonic()
    workers, arguments = timed_workers(arguments)
    pytest = [sys.executable, "-m", "pytest"]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as busy_log:
        busy = subprocess.Popen(
            ["nice", "-n", "19", *pytest, "-m", BUSY, *arguments],
            stdin=subprocess.DEVNULL, stdout=busy_log, stderr=subprocess.STDOUT)
        try:
            if workers == 1:  # one timed test at a time: the solo tests are among them
                banner(f"the timed lane ({TIMED_ALONE}), one process")
                timed = subprocess.run([*pytest, "-m", TIMED_ALONE, *arguments],
                                       stdin=subprocess.DEVNULL, check=False).returncode
                solo = 0
            else:
                banner(f"the timed lane ({TIMED}), {workers} workers")
                timed = subprocess.run(
                    [*pytest, "-m", TIMED, "-n", str(workers), "--dist", "loadfile",
                     *arguments], stdin=subprocess.DEVNULL, check=False).returncode
                banner(f"the solo lane ({SOLO}), the only one not under nice")
                solo = subprocess.run([*pytest, "-m", SOLO, *arguments],
                                      stdin=subprocess.DEVNULL, check=False).returncode
            busy_code = busy.wait()
        finally:
            if busy.poll() is None:  # interrupted: the busy lane stops with the others
                busy.terminate()
                busy.wait()
        banner(f"the busy lane ({BUSY}), under nice")
        busy_log.seek(0)
        sys.stdout.write(busy_log.read())
    elapsed = time.monotonic() - started
    print(f"\nall lanes: {elapsed // 60:.0f} min {elapsed % 60:.0f} s (exit status: timed "
          f"{timed}, solo {solo}, busy {busy_code})", flush=True)
    return lane_status(timed) or lane_status(solo) or lane_status(busy_code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
