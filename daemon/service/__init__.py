"""Lifecycle: the `Daemon` that wires ports, clock, scheduler and interaction loop
together and its start-up (`antiphon run`: startup.py), signal handling, systemd's
notifications and units. The configuration lives in daemon.config, remote control in
daemon.control, the allocator settings that keep memory flat over model swaps in
antiphon.engine.memory.

May import the engine, daemon.midi, daemon.play, daemon.config and daemon.control; never
the CLI or the benchmarks.
"""
