"""The session recorder: every call and answer kept as a take, and what is made of a take.

    take_events.py   TakeEvent: one thing that happened in a take (a note of the call or
                     of the answer, an answer's start, a tempo, the settings)
    feed.py          TakeFeed: the daemon's taps, handed off its MIDI and sampling threads
                     to the listeners (the journal, the web page) on a thread of its own
    recorder.py      TakeRecorder: the append-only journal of a take, flushed every half
                     second, said once and given up on a full disk
    upkeep.py        done as a recorder opens: takes a dead process left are finished,
                     old ones removed by age and total size (KeepPolicy)
    takes.py         the takes folder (takes_folder()): listing takes and reading them back
    take_tally.py    what a list says of each take, counted line by line and kept, so a
                     long journal is never held whole nor read twice
    midi_export.py   a take as a .mid (call and answer, or one track per exchange)
    roll_picture.py  a piano-roll picture of a call and its answer (PNG)

May import the engine, daemon.midi, daemon.play and daemon.config; never daemon.control,
daemon.service, the CLI or the benchmarks (the web page and the service use the recorder;
it uses none of them).
"""
