"""The MIDI edge: ports over python-rtmidi (ALSA, JACK, CoreMIDI, Windows MM), the
in-process loopback ports of the demo and tests, and a private JACK server for tests.

May import the engine only: nothing of the musical loop, the service or the CLI.
"""
