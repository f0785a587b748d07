"""Music as training data: the music21 corpora and MIDI folders as note events, the
piano-roll benchmarks, splits by piece, token and melody arrays, memory-mapped prepared data.
Below the importers and `corpus.py` lie `event_tables.py` and `workers.py`; below the roll
sources (`benchmarks.py`, `corpus_rolls.py`, `prepared.py`) lies `rolls.py`.

May import the engine, numpy and torch; none of the other training rooms.
"""
