"""`antiphon sessions`: the takes the daemon recorded. `list` shows them (a take not
finished is being recorded, or was cut short and is finished when the daemon next starts),
`export` writes one as a .mid (call and answer, or one track per exchange), `show` draws
its piano roll as a PNG.

Each reads the takes folder (`--folder`, else the default one the daemon records into)
through the record room, which refuses a folder another user could change; a bad id, an
unsafe folder or an unreadable journal ends in one line (`fail`), never a traceback.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from antiphon.daemon.cli.shared import console, fail

sessions_app = typer.Typer(
    help="The takes the daemon recorded: list them, export one as MIDI, draw its piano roll.",
    no_args_is_help=True,
)

FolderOption = Annotated[Path | None, typer.Option(
    "--folder", file_okay=False,
    help="The takes folder to read. \\[default: the folder the daemon records into: "
         "record_folder of the config, else ~/.local/share/antiphon/sessions]",
    show_default=False)]
TakeIdArgument = Annotated[str, typer.Argument(
    metavar="ID", help="The take's id, as `antiphon sessions list` shows it.",
    show_default=False)]


def _folder(folder: Path | None) -> Path:
    """--folder, else the one the daemon records into (its config's record_folder, which
    a config file or ANTIPHON_RECORD_FOLDER may set)."""
    if folder is not None:
        return folder
    from antiphon.daemon.cli.options import read_config
    from antiphon.daemon.service.wiring import record_folder

    return record_folder(read_config(None, {}))


def _read(folder: Path | None, take_id: str):  # noqa: ANN202 (a Take; imported lazily)
    from antiphon.daemon.record.takes import TakeError, read_take

    try:
        return read_take(_folder(folder), take_id)
    except (TakeError, OSError) as err:
        fail(str(err))


def _length(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else \
        f"{minutes}:{rest:02d}"


def _date(started: datetime) -> str:
    """Short: the year only when it is not this one's."""
    return started.strftime("%d %b %H:%M" if started.year == datetime.now().year
                            else "%d %b %Y %H:%M")


@sessions_app.command("list")
def list_sessions(folder: FolderOption = None) -> None:
    """List the recorded takes, newest first."""
    from antiphon.daemon.record.takes import list_takes_and_unread

    where = _folder(folder)
    try:
        takes, unread = list_takes_and_unread(where)
    except OSError as err:
        fail(str(err))
    if not takes:
        console.print(f"no takes in {escape(str(where))}")
    else:
        _print_table(where, takes)
    if unread:  # nothing left out unsaid
        console.print(f"[yellow]{len(unread)} take{'s' if len(unread) > 1 else ''} could not "
                      "be read:[/]")
        for take_id, why in unread:
            console.print(f"  {take_id}: {escape(why)}", soft_wrap=True)


def _print_table(where: Path, takes: list) -> None:
    # No lines: six columns fit an 80-column terminal with room for the models.
    table = Table(title=f"Takes in {escape(str(where))}", title_justify="left",
                  box=None, padding=(0, 1))
    table.add_column("id", no_wrap=True)
    table.add_column("date", no_wrap=True)
    table.add_column("length", justify="right", no_wrap=True)
    table.add_column("exchanges", justify="right", no_wrap=True)
    table.add_column("models", overflow="fold")
    table.add_column("finished", no_wrap=True)
    for take in takes:
        table.add_row(take.id, _date(take.started),
                      _length(take.seconds), str(take.exchanges),
                      escape(", ".join(take.models)) or "[dim]-[/]",
                      "yes" if take.finished else "[yellow]no[/]")
    console.print(table)


@sessions_app.command("export")
def export_session(
    take_id: TakeIdArgument,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", dir_okay=False,
        help="Where to write the .mid. \\[default: ID.mid in the current folder]",
        show_default=False)] = None,
    per_exchange: Annotated[bool, typer.Option(
        "--per-exchange", help="One track per exchange (a call and its answer), not one "
                               "track for the calls and one for the answers.")] = False,
    folder: FolderOption = None,
) -> None:
    """Write a take as a standard MIDI file, with the tempo it was played at."""
    from antiphon.daemon.record.midi_export import take_to_midi

    take = _read(folder, take_id)
    target = output if output is not None else Path(f"{take_id}.mid")
    midi = take_to_midi(take, per_exchange=per_exchange)
    try:
        midi.save(target)
    except OSError as err:
        fail(f"cannot write {str(target)!r}: {err.strerror or err}")
    tracks = ", ".join(track.name for track in midi.tracks)
    console.print(f"wrote {escape(str(target))} ({escape(tracks)}; "
                  f"{_length(take.seconds)})")


@sessions_app.command("show")
def show_session(
    take_id: TakeIdArgument,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", dir_okay=False,
        help="Where to write the PNG. \\[default: ID.png in the current folder]",
        show_default=False)] = None,
    folder: FolderOption = None,
) -> None:
    """Draw a take's piano roll (the call and the answer in two colours) as a PNG."""
    from antiphon.daemon.record.roll_picture import draw_roll, take_roll_notes

    take = _read(folder, take_id)
    target = output if output is not None else Path(f"{take_id}.png")
    call, answer = take_roll_notes(take)
    try:
        draw_roll(call, answer, target, title=f"take {take_id}")
    except ImportError:
        fail("`antiphon sessions show` needs matplotlib: pip install matplotlib")
    except OSError as err:
        fail(f"cannot write {str(target)!r}: {err.strerror or err}")
    console.print(f"wrote {escape(str(target))} ({len(call)} notes of the call, "
                  f"{len(answer)} of the answer)")
