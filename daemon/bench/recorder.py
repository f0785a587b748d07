"""The recorder of `antiphon bench loop`, in a process of its own.

It reads its port the way Antiphon does (a polling thread, timestamps from the MIDI
system's deltas), in a process whose only other thread blocks reading standard input, so
nothing of the benchmark's own Python work delays a timestamp. Each message goes to
standard output as "<perf_counter seconds> <byte> <byte> <byte>"; the process stops when
its standard input closes.

    python -m antiphon.daemon.bench.recorder PORT [CLIENT]

PORT is the port to connect to; an empty PORT opens a virtual port (of client CLIENT) for
the daemon to connect to, as a synth would.
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

    wanted = sys.argv[1] if len(sys.argv) > 1 else "Antiphon Out"
    client = sys.argv[2] if len(sys.argv) > 2 else "bench recorder"
    port = RtMidiInput("jack", wanted or None, "in", client_name=client)
    try:
        port.set_receiver(on_message)
        out.write(f"ready {perf_counter():.7f}\n")
        out.flush()
        sys.stdin.read()  # until the benchmark closes our standard input
    finally:
        port.close()


if __name__ == "__main__":
    main()
