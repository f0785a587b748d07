"""The musical loop: musical time (clock), the call-and-response state machine, the
interaction thread that feeds the model, the output scheduler and its timing trace.

May import the engine and daemon.midi; never the service, the CLI or the benchmarks.
"""
