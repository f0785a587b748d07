"""`antiphon bench engine|loop`: step latency of the engine on one core, and the whole
loop timed at the ports over a JACK server, with the recorder client they run.

May import what the CLI may: the daemon's rooms, and antiphon.training inside a function.
"""
