"""Lifecycle: the `Daemon` that wires ports, clock, scheduler and interaction loop
together and its start-up (`antiphon run`: startup.py), its configuration (dataclass =
TOML = ANTIPHON_* = flags; paths, reading, editing), signal handling, the control socket
and its Controller, the keyboard's controls (knobs.py, the CC map), OSC, systemd, and the
allocator settings that keep memory flat over model swaps.

May import the engine, daemon.midi and daemon.play; never the CLI or the benchmarks.
"""
