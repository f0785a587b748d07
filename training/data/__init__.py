"""Music as training data: the music21 corpora and MIDI folders as note events, the
piano-roll benchmarks, splits by piece, token and melody arrays, memory-mapped prepared data.

May import the engine, numpy and torch; none of the other training rooms.
"""
