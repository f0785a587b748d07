"""A MIDI clock source in a process of its own (`python -m antiphon.daemon.bench.clock_source
BPM`), for `antiphon bench clock` and the end-to-end tests: the DAW. Alone in its process, its
timing never waits for another thread's turn at the interpreter.

It connects to "Antiphon In" (or, started with `--own-port`, opens a port of its own,
"bench clock:clock", for the daemon's `--clock-in` to find), sends Start, then 24 pulses
per beat, each up to JITTER_SECONDS off its time (USB-MIDI's jitter). It prints `ready`,
then `beat <seconds> <number>` when it sends the first pulse of each beat while running
(time.perf_counter, the clock every process on the machine shares; the beat's number in
the song) and `tempo <seconds> <bpm>` when a change takes effect. It reads commands on its
standard input: `tempo BPM` (from the next beat), `stop` (MIDI Stop; the pulses go on as
a stopped DAW's do, the song position stays), `position SIXTEENTHS` (a Song Position
Pointer), `continue`, `start` (the song from its top: the next pulse is beat 0 again), and
end of input: Stop, and exit.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import rtmidi

JITTER_SECONDS = 0.001
SPIN_SECONDS = 0.003  # the last stretch before a pulse is waited for by spinning


def main(bpm: float, seed: int = 3, own_port: bool = False) -> int:
    port = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bench clock")
    names = port.get_ports()
    index = next((i for i, name in enumerate(names) if "Antiphon In" in name), None)
    if own_port:
        port.open_virtual_port("clock")
    elif index is None:
        print(f"error no Antiphon input among {names}", flush=True)
        return 1
    else:
        port.open_port(index, name="clock")
    time.sleep(0.2)  # JACK makes the connection
    wanted = [bpm]
    done = threading.Event()
    commands: list[list[str]] = []

    def read_commands() -> None:
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["tempo"] and len(words) == 2:
                wanted[0] = float(words[1])
            elif words:
                commands.append(words)
        done.set()

    threading.Thread(target=read_commands, daemon=True).start()
    rng = np.random.default_rng(seed)
    print("ready", flush=True)
    port.send_message([0xFA])
    due, pulse, running = time.perf_counter() + 0.01, 0, True  # pulse: the song position
    while not done.is_set():
        while commands:
            command, *values = commands.pop(0)
            if command == "position":  # sent while stopped, as a DAW does
                sixteenths = int(values[0])
                port.send_message([0xF2, sixteenths & 0x7F, sixteenths >> 7 & 0x7F])
                pulse = sixteenths * 6
                continue
            port.send_message({"stop": [0xFC], "start": [0xFA]}.get(command, [0xFB]))
            running = command != "stop"
            if command == "start":
                pulse = 0  # the next pulse is the first of beat 0
        if (pulse % 24 == 0 or not running) and wanted[0] != bpm:
            bpm = wanted[0]
            print(f"tempo {due:.6f} {bpm:g}", flush=True)
        send_at = due + rng.uniform(-JITTER_SECONDS, JITTER_SECONDS)
        rest = send_at - time.perf_counter() - SPIN_SECONDS
        if rest > 0:
            time.sleep(rest)
        while time.perf_counter() < send_at:
            pass
        port.send_message([0xF8])
        if running:
            if pulse % 24 == 0:
                print(f"beat {time.perf_counter():.6f} {pulse // 24}", flush=True)
            pulse += 1
        due += 60.0 / bpm / 24
    port.send_message([0xFC])
    time.sleep(0.05)
    port.close_port()
    return 0


if __name__ == "__main__":
    arguments = [word for word in sys.argv[1:] if word != "--own-port"]
    sys.exit(main(float(arguments[0]) if arguments else 120.0,
                  own_port="--own-port" in sys.argv))
