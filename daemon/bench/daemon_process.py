"""`antiphon run` as a process of the benchmarks: started and waited for until it listens,
its output collected, stopped with its exit status checked."""

from __future__ import annotations

import subprocess
import threading
import time

from antiphon.daemon.bench.engine import READY_LINE

READY_TIMEOUT_SECONDS = 60.0


def start_daemon(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    """Start `antiphon run` (`command`) and wait until it listens; its output lines go on
    being collected, by a thread, into the list returned with it."""
    daemon = subprocess.Popen(command, env={**env, "COLUMNS": "200"}, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    output: list[str] = []
    try:
        wait_until_ready(daemon, output)
    except BaseException:
        kill_daemon(daemon)
        raise
    threading.Thread(target=lambda: output.extend(daemon.stdout), daemon=True).start()
    return daemon, output


def stop_daemon(daemon: subprocess.Popen, output: list[str]) -> None:
    """SIGTERM; an exit that is not clean is an error, with the daemon's last words."""
    daemon.terminate()
    if daemon.wait(timeout=30) != 0:
        raise RuntimeError(f"antiphon run exited with {daemon.returncode}:\n"
                           + "".join(output[-20:]))


def kill_daemon(daemon: subprocess.Popen) -> None:
    if daemon.poll() is None:
        daemon.kill()
        daemon.wait()


def wait_until_ready(daemon: subprocess.Popen, output: list[str]) -> None:
    deadline = time.perf_counter() + READY_TIMEOUT_SECONDS
    assert daemon.stdout is not None
    for line in daemon.stdout:
        output.append(line)
        if READY_LINE in line:
            return
        if time.perf_counter() > deadline:
            break
    raise RuntimeError("antiphon run did not get ready:\n" + "".join(output[-20:]))
