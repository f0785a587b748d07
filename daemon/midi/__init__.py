"""The MIDI edge: ports over python-rtmidi (ALSA, JACK, CoreMIDI, Windows MM) read by
threads of ours (never Python on the MIDI system's realtime thread), the stream parser, the
input gate that filters and sheds, the kept ports and the keeper that reconnects them and
watches the MIDI system, panic; plus the demo's loopback ports and a private JACK server.

May import the engine only: nothing of the musical loop, the service or the CLI.
"""
