"""`python -m antiphon.daemon` is the `antiphon` command."""

from antiphon.daemon.cli.app import app

app(prog_name="antiphon")
