"""What the `antiphon` commands share: the consoles, the one-line error exit, logging."""

import logging
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from antiphon.daemon.service.systemd import JournalFormatter, under_journald

console = Console()
error_console = Console(stderr=True)

USAGE_ERROR = 2  # exit status for a bad option, as click uses
DEFAULT_CORPORA = ("essenFolksong", "oneills1850", "bach")  # what the default model learnt


def fail(message: str, code: int = 1) -> NoReturn:
    # One line whatever the terminal's width: a script or a journal reads it whole.
    error_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


class StderrHandler(logging.StreamHandler):
    """A StreamHandler on whatever `sys.stderr` is when a record is written, not on the
    stream it was when logging was set up: a command run in-process (the demo in a test, a
    CLI runner) swaps stderr and closes its own afterwards, and a record written later to
    the closed one is lost with a "Logging error"."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # noqa: ANN201 (a text stream)
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001 (StreamHandler sets it; stderr wins)
        pass


def setup_logging(level: str) -> None:
    """Log to stderr: rich when a person watches, priority-tagged lines for journald, plain
    timestamped lines for any other log (a file, a pipe, another supervisor)."""
    if under_journald():
        handler: logging.Handler = StderrHandler()
        handler.setFormatter(JournalFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=error_console, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
