"""The `antiphon` command's entry point. A Ctrl-C that comes while Python is still loading
the command line (before `antiphon run` takes the signals over) ends the process quietly
with the shell's 130 for Ctrl-C, not with a KeyboardInterrupt traceback."""

import sys

from antiphon.daemon.cli.exit_status import FORCED_EXIT


def main() -> None:
    try:
        from antiphon.daemon.cli.app import app

        app(prog_name="antiphon")
    except KeyboardInterrupt:
        sys.exit(FORCED_EXIT)
