"""Lifecycle: the `Daemon` that wires ports, clock, scheduler and interaction loop
together (`antiphon run`), its configuration (dataclass = TOML = ANTIPHON_* = flags) and
signal handling.

May import the engine, daemon.midi and daemon.play; never the CLI or the benchmarks.
"""
