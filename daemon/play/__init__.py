"""The musical loop: musical time (the `Clock` and its implementations: internal, a MIDI
clock follower, an Ableton Link session), the MIDI clock Antiphon sends, the
call-and-response state machine, the sustain pedal, the interaction thread that feeds the
model, the output scheduler and its timing trace.

May import the engine and daemon.midi; never the service, the CLI or the benchmarks.
"""
