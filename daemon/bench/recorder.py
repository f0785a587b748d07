"""The recorder of `antiphon bench loop`, in a process of its own.

JACK calls the input callback on its realtime thread, which must take Python's GIL to
run it; in a process whose other threads run Python, that wait can outlast a JACK period
and the event is lost to the measurement (not to Antiphon). Here the only other thread
blocks reading standard input, so the callback never waits. Each message goes to
standard output as "<perf_counter seconds> <byte> <byte> <byte>"; the process stops when
its standard input closes.
"""

from __future__ import annotations

import gc
import sys
import time

from antiphon.daemon.midi.ports import RtMidiInput


def main() -> None:
    gc.disable()  # a short run that allocates little: no collection may delay a timestamp
    out = sys.stdout
    perf_counter = time.perf_counter

    def on_message(arrived: float, message: list[int]) -> None:
        out.write(f"{arrived:.7f} {' '.join(map(str, message))}\n")
        out.flush()

    port = RtMidiInput("jack", sys.argv[1] if len(sys.argv) > 1 else "Antiphon Out",
                       client_name="bench recorder")
    try:
        port.set_callback(on_message)
        out.write(f"ready {perf_counter():.7f}\n")
        out.flush()
        sys.stdin.read()  # until the benchmark closes our standard input
    finally:
        port.close()


if __name__ == "__main__":
    main()
