"""The `antiphon` command (typer): `app.py` holds the app, `run_command.py` `antiphon run`
(with `options.py`, what it shares with the demo), one module per further group
(`training.py`, `bench.py`, `control.py`, `knobs_command.py`, `service.py`,
`config_command.py`, `panic.py`), and the demo.

May import everything in the daemon; antiphon.training only inside a command (torch is an
extra).
"""
