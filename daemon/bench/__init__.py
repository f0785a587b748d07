"""`antiphon bench engine|loop|clock`: step latency of the engine on one core, the whole
loop timed at the ports over a JACK server (and soaked, and faulted), answers against a
DAW's MIDI clock and a Link peer's beat and the MIDI clock sent, with the clients they run
(recorder, clock source, Link peer).

May import what the CLI may: the daemon's rooms, and antiphon.training inside a function.
"""
