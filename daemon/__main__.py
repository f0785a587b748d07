"""`python -m antiphon.daemon` is the `antiphon` command."""

from antiphon.daemon.cli import app

app(prog_name="antiphon")
