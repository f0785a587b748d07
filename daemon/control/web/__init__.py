"""The local web page of `antiphon run --web`: a live piano roll of call and answer, the
tempo, the clock and the key kept, the live settings as controls (through the same
Controller as the control socket), and the recorded takes; served on 127.0.0.1 only,
behind a token, from a thread of its own."""
