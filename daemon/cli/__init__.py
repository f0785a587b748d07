"""The `antiphon` command (typer): `app.py` holds the app and registers every command,
`run_command.py` `antiphon run` (with `options.py`, which makes its parameters from the
table of options, daemon/config/config_fields.py, and the options other commands share),
one module per further group (`training.py`, `model_commands.py`, `prepare_command.py`
and `training_defaults.py`; `bench.py`, `control.py`, `knobs_command.py`, `service.py`,
`config_command.py`, `panic.py`; `eval_group.py`, `answers_eval.py`, `key_eval.py`,
`critic_command.py`; `continue_command.py`), and the demo.

May import everything in the daemon; antiphon.training only inside a command (torch is an
extra).
"""
