"""The Antiphon daemon: MIDI in, call and response, MIDI out, on time.

    midi/     the MIDI edge: ports over python-rtmidi, JACK server, in-process loopback
    play/     the musical loop: clock, phrase state machine, interaction thread, scheduler
    config/   the configuration: options, their layers and checks, paths, model names
    control/  remote control: the Controller, control socket, knobs, OSC
    service/  lifecycle: the Daemon that wires the parts, signals, systemd
    cli/      the `antiphon` command (typer) and the demo
    bench/    `antiphon bench engine|loop` and their clients

Each room imports only the rooms listed before it (tests/test_dependency_rules.py), and
nothing here imports torch or antiphon.training at import time.
"""
