"""The `antiphon` command (typer): `app.py` holds the app and the playing commands, one
module per further group (`training.py`, `bench.py`), and the demo.

May import everything in the daemon; antiphon.training only inside a command (torch is an
extra).
"""
