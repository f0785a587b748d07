"""The takes folder: where takes are kept, and reading them back.

A take is a folder `<ID>/` in the takes folder (ID: the local time it began,
`2026-12-07_145503`, with `-2`, `-3` on a clash), holding `journal.jsonl` (a header line
{"format": "antiphon-take-v1", "started": ISO local time, "pid": ...}, one TakeEvent a
line, and {"kind": "end", "t": ...} after a clean stop) and `take.mid` once finished.

Every folder and file is opened through config/private_folder.py: a takes folder that
another user could change, or a link in place of a take or its journal, is refused
(UnsafePath). A take id is a name, never a path: anything but the ID's form ("/", "..")
is refused before the disk is touched.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import platformdirs

from antiphon.daemon.config.paths import APP_NAME
from antiphon.daemon.config.private_folder import TAKES, open_folder, open_private_file
from antiphon.daemon.record.take_events import (
    ANSWER_START,
    SETTINGS,
    Take,
    TakeEvent,
    take_seconds,
)
from antiphon.daemon.record.take_tally import tally_journal

JOURNAL = "journal.jsonl"
TAKE_MIDI = "take.mid"
FORMAT = "antiphon-take-v1"
END = "end"
TAKE_ID = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{6}(-[0-9]{1,4})?")  # ASCII digits only
ID_TIME_FORMAT = "%Y-%m-%d_%H%M%S"


def takes_folder() -> Path:
    """The default takes folder (the config's `record_folder` may name another)."""
    return platformdirs.user_data_path(APP_NAME) / "sessions"


class TakeError(ValueError):
    """A take that cannot be given: the message says which and why."""


class UnknownTake(TakeError):
    """No take of that id in the folder."""


class BadTakeId(TakeError):
    """Not a take id (a path, "..", anything but the ID's form)."""


class UnreadableTake(TakeError):
    """A take whose journal is missing or has no header."""


class TakeTooLong(TakeError):
    """A journal longer than the reader was willing to hold (read_take's max_bytes)."""


@dataclass(frozen=True)
class TakeSummary:
    id: str
    started: datetime
    seconds: float
    exchanges: int  # answers started
    models: tuple[str, ...]  # the models named in its settings, in the order first seen
    finished: bool  # its take.mid was written


def checked_folder(folder: Path) -> Path:
    """The takes folder as given, or an OSError for a name no folder can have: a NUL (a
    config file's "\\u0000"), which os.open would refuse with a ValueError."""
    if "\0" in str(folder):
        raise OSError(f"the takes folder {str(folder)!r} holds a NUL character: name "
                      "another (record_folder, --folder)")
    return folder


def check_take_id(take_id: str) -> str:
    """The id itself, or BadTakeId: ids are names like 2026-12-07_145503, never paths."""
    if not isinstance(take_id, str) or not TAKE_ID.fullmatch(take_id):
        raise BadTakeId(f"{take_id!r} is not a take id (ids look like 2026-12-07_145503; "
                        "`antiphon sessions list` shows them)")
    return take_id


def is_take_id(name: str) -> bool:
    return bool(TAKE_ID.fullmatch(name))


def list_takes(folder: Path) -> list[TakeSummary]:
    """Every readable take in `folder`, newest first; [] when the folder is missing.
    Raises UnsafePath (an OSError) for a folder another user could change."""
    return list_takes_and_unread(folder)[0]


def list_takes_and_unread(folder: Path) -> tuple[list[TakeSummary], list[tuple[str, str]]]:
    """list_takes, and (id, why) of each take left out: one another user owns, whose
    journal is missing, a link or not a journal (or one being made this moment)."""
    folder_fd = open_folder(checked_folder(folder), create=False, use=TAKES)
    if folder_fd is None:
        return [], []
    try:
        names = sorted((name for name in os.listdir(folder_fd) if is_take_id(name)),
                       reverse=True)
        summaries, unread = [], []
        for name in names:
            try:
                summaries.append(_summary_in(folder, name))
            except (TakeError, OSError) as err:
                unread.append((name, str(err)))
        return summaries, unread
    finally:
        os.close(folder_fd)


def _summary_in(folder: Path, take_id: str) -> TakeSummary:
    """A take's summary from its journal's tally (take_tally.py): read line by line, and
    only what was written since the last list."""
    where = folder / take_id
    take_fd = open_folder(where, create=False, use=TAKES)
    if take_fd is None:
        raise UnknownTake(f"no take {take_id} in {str(folder)!r}")
    try:
        journal_fd = open_private_file(take_fd, JOURNAL, where, create=False,
                                       writable=False, use=TAKES)
        if journal_fd is None:
            raise UnreadableTake(f"the take {take_id} has no journal")
        try:
            tally = tally_journal(journal_fd, _json_row)
        finally:
            os.close(journal_fd)
        finished = has_file(take_fd, TAKE_MIDI)
    finally:
        os.close(take_fd)
    header = tally.header
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UnreadableTake(f"the take {take_id}'s journal does not begin with an "
                             f"{FORMAT} header")
    return TakeSummary(take_id, started_at(Take(take_id, header)), tally.seconds,
                       tally.exchanges, tuple(tally.models), finished)


def read_take(folder: Path, take_id: str, *, max_bytes: int | None = None) -> Take:
    """The take `take_id` of `folder`. Raises BadTakeId, UnknownTake, UnreadableTake,
    TakeTooLong (a journal past `max_bytes`) (each a ValueError) or UnsafePath (an
    OSError)."""
    check_take_id(take_id)
    folder_fd = open_folder(checked_folder(folder), create=False, use=TAKES)
    if folder_fd is None:
        raise UnknownTake(f"no take {take_id}: there is no takes folder {str(folder)!r}")
    os.close(folder_fd)
    return read_take_in(folder, take_id, max_bytes=max_bytes)


def read_take_in(folder: Path, take_id: str, *, max_bytes: int | None = None) -> Take:
    """A take of a folder already checked (its id checked too)."""
    take_fd = open_folder(folder / take_id, create=False, use=TAKES)
    if take_fd is None:
        raise UnknownTake(f"no take {take_id} in {str(folder)!r} "
                          "(`antiphon sessions list` shows the takes)")
    try:
        return read_journal(take_fd, folder / take_id, take_id, max_bytes=max_bytes)
    finally:
        os.close(take_fd)


def read_journal(take_fd: int, where: Path, take_id: str, *,
                 max_bytes: int | None = None) -> Take:
    """The journal of an open take folder, read up to its last whole line."""
    journal_fd = open_private_file(take_fd, JOURNAL, where, create=False, writable=False,
                                   use=TAKES)
    if journal_fd is None:
        raise UnreadableTake(f"the take {take_id} has no journal ({str(where / JOURNAL)!r})")
    with os.fdopen(journal_fd, "rb") as journal:
        size = os.fstat(journal.fileno()).st_size
        if max_bytes is not None and size > max_bytes:
            raise TakeTooLong(f"the take {take_id} is {size / 1e6:.1f} MB of journal, more "
                              f"than {max_bytes / 1e6:g} MB")
        data = journal.read()
    return parse_journal(data, take_id, finished=has_file(take_fd, TAKE_MIDI))


def parse_journal(data: bytes, take_id: str, *, finished: bool = False) -> Take:
    """A journal's bytes as a Take. A last line with no newline (cut by a crash) is left
    out; a row in between that is not an event is skipped and counted."""
    lines = data.split(b"\n")[:-1]  # what follows the last newline is not a whole line
    if not lines:
        raise UnreadableTake(f"the take {take_id}'s journal is empty")
    header = _json_row(lines[0])
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UnreadableTake(f"the take {take_id}'s journal does not begin with an "
                             f"{FORMAT} header")
    events: list[TakeEvent] = []
    ended = None
    skipped = 0
    for line in lines[1:]:
        try:
            row = _json_row(line)
            if isinstance(row, dict) and row.get("kind") == END:
                ended = take_seconds(row.get("t", 0.0))
                continue
            events.append(TakeEvent.from_json(row))
        except (ValueError, TypeError):
            skipped += 1
    return Take(take_id, header, tuple(events), ended, finished, skipped)


def _json_row(line: bytes) -> object:
    """A journal line's JSON, or None when it holds none: garbage, invalid UTF-8, or
    arrays nested deeper than the parser can follow (RecursionError)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def summary_of(take: Take) -> TakeSummary:
    models: list[str] = []
    for event in take.events:
        if event.kind == SETTINGS and event.detail:
            model = event.detail.get("model")
            if model is not None and str(model) not in models:
                models.append(str(model))
    return TakeSummary(take.id, started_at(take), take.seconds,
                       sum(event.kind == ANSWER_START for event in take.events),
                       tuple(models), take.finished)


def started_at(take: Take) -> datetime:
    """The header's start, else the time the id says; UnreadableTake when neither does."""
    try:
        return datetime.fromisoformat(str(take.header.get("started")))
    except ValueError:
        pass
    try:
        return datetime.strptime(take.id[:17], ID_TIME_FORMAT)
    except ValueError:  # an id of the form with no real time in it (month 99)
        raise UnreadableTake(f"the take {take.id} says no start: its header has none, and "
                             "its id is no time") from None


def has_file(folder_fd: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False
