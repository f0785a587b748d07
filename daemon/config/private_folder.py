"""A private folder (the control socket's, the recorded takes') and the files kept in it
(the lock, the record of what was opened, a take's journal), trusted only when nobody but
the user can change them.

Whoever can write the folder can rename the socket and bind an impostor in its place, or
plant a link named like the lock that makes the daemon truncate the file it points to.
So, before anything is made or opened there:

- every folder on the way to it belongs to the user or to root and is writable by nobody
  else, unless it is sticky (/tmp: others cannot rename what is not theirs); a symbolic
  link on the way must belong to the user or to root too;
- the folder itself is not a symbolic link, belongs to the user, and only the user can
  write it; a missing one is made 0700. It is opened (O_NOFOLLOW | O_DIRECTORY) and checked
  through that descriptor, and the files in it are opened relative to it: what was checked
  is what is used;
- a file in it is opened without following links and without blocking (a FIFO), checked to
  be a regular file of the user's with no other name, and only then truncated.

Each refusal is an UnsafePath (an OSError) whose message names the path and what is wrong.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_LINKS = 40  # symbolic links followed on the way to the folder, as the kernel allows


class UnsafePath(OSError):
    """A path another user could change under the daemon; the message says why."""


@dataclass(frozen=True)
class FolderUse:
    """What a private folder holds, as a refusal says it: its name, what is kept in it,
    what another user could do there, and the option that names another folder."""

    folder: str  # "the control socket's folder"
    kept: str  # "the control socket": what lies at the end of the way
    harm: str  # what another user could do with the folder
    option: str  # the flag that names another folder


CONTROL_SOCKET = FolderUse("the control socket's folder", "the control socket",
                           "could put an impostor there", "--control-socket")
TAKES = FolderUse("the takes folder", "the takes", "could read, swap or remove the takes",
                  "--record-folder")


def open_folder(folder: Path, *, create: bool, use: FolderUse = CONTROL_SOCKET) -> int | None:
    """A descriptor of `folder`, checked as the module docstring says (made 0700 when
    missing and `create`; None when missing and not `create`). Raises UnsafePath, saying
    what the folder is for (`use`)."""
    # Not os.path.abspath: it drops `link/..` by the text, where the kernel (and so the
    # bind) goes up from the link's target; the walk below goes where the kernel goes.
    folder = folder if folder.is_absolute() else Path.cwd() / folder
    _check_ancestors(folder.parent, use)
    if create:
        try:
            # Folders made on the way are private too: nobody else has a say below them.
            os.makedirs(folder.parent, 0o700, exist_ok=True)
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError as err:
            raise OSError(f"cannot make {use.folder} {str(folder)!r}: "
                          f"{err.strerror}") from err
        # Again: another user may have made a missing folder on the way first (in /tmp),
        # and makedirs takes an existing one as it finds it.
        _check_ancestors(folder.parent, use)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as err:
        if os.path.islink(folder):
            raise UnsafePath(f"{use.folder} {str(folder)!r} is a symbolic link: give a "
                             f"{use.option} in a real folder of your own") from None
        raise OSError(f"cannot open {use.folder} {str(folder)!r}: {err.strerror}") from err
    try:
        _check_private_folder(folder, os.fstat(fd), use)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_file(folder_fd: int, name: str, where: Path, *, create: bool,
                      writable: bool = True, use: FolderUse = CONTROL_SOCKET) -> int | None:
    """Open `name` in the checked folder without following a link; None when it is
    missing and not `create`. Raises UnsafePath for anything but a regular file of the
    user's with one name (a link, a FIFO, another user's file, a hard link)."""
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | \
        os.O_CLOEXEC | (os.O_CREAT if create else 0)
    path = where / name
    try:
        fd = os.open(name, flags, 0o600, dir_fd=folder_fd)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as err:
        if _is_link(folder_fd, name):
            raise UnsafePath(f"{str(path)!r} is a symbolic link: refusing to follow it "
                             f"(remove it, or give another {use.option})") from None
        raise OSError(f"cannot open {str(path)!r}: {err.strerror}") from err
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}, not to you (uid {os.geteuid()})"
    elif info.st_nlink != 1:
        problem = "has other names (hard links)"
    if problem is not None:
        os.close(fd)
        raise UnsafePath(f"{str(path)!r} {problem}: refusing to use it (remove it, or give "
                         f"another {use.option})")
    return fd


def refuse_link(folder_fd: int, name: str, where: Path) -> None:
    """Raise UnsafePath when `name` in the folder is a symbolic link (the socket's path)."""
    if _is_link(folder_fd, name):
        raise UnsafePath(f"the control socket {str(where / name)!r} is a symbolic link: "
                         "refusing to follow it (remove it, or give another --control-socket)")


def _is_link(folder_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_private_folder(folder: Path, info: os.stat_result, use: FolderUse) -> None:
    if info.st_uid != os.geteuid():
        raise UnsafePath(f"{use.folder} {str(folder)!r} belongs to uid {info.st_uid}, not "
                         f"to you (uid {os.geteuid()}): another user {use.harm}; give a "
                         f"{use.option} in a folder of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePath(f"{use.folder} {str(folder)!r} can be written by others (mode "
                         f"{stat.S_IMODE(info.st_mode):04o}): another user {use.harm}; "
                         f"chmod 700 {str(folder)!r}, or give a {use.option} in a folder of "
                         "your own")


def _check_ancestors(folder: Path, use: FolderUse) -> None:
    """Walk from / to `folder` as the kernel would, following links, and refuse any folder
    or link on the way that a user other than us or root could change."""
    pending = list(folder.parts[1:])
    current = Path("/")
    _check_on_the_way(current, os.lstat(current), use)
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        step = current / part
        try:
            info = os.lstat(step)
        except FileNotFoundError:
            return  # made below (mkdir), in a folder already found safe
        if stat.S_ISLNK(info.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise OSError(f"too many symbolic links on the way to {str(folder)!r}")
            _check_owner(step, info, "symbolic link", use)
            target = Path(os.readlink(step))
            if target.is_absolute():
                current = Path("/")
            pending[:0] = list(target.parts[1:] if target.is_absolute() else target.parts)
            continue
        _check_on_the_way(step, info, use)
        current = step


def _check_on_the_way(step: Path, info: os.stat_result, use: FolderUse) -> None:
    _check_owner(step, info, "folder", use)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        raise UnsafePath(f"the folder {str(step)!r}, on the way to {use.kept}, can be "
                         f"written by others (mode {stat.S_IMODE(info.st_mode):04o}): another "
                         f"user could swap what lies below it; give a {use.option} in a "
                         "folder of your own")


def _check_owner(step: Path, info: os.stat_result, kind: str, use: FolderUse) -> None:
    if info.st_uid not in (0, os.geteuid()):
        raise UnsafePath(f"the {kind} {str(step)!r}, on the way to {use.kept}, belongs to "
                         f"uid {info.st_uid}, neither you (uid {os.geteuid()}) nor root: that "
                         f"user could swap what lies below it; give a {use.option} in a "
                         "folder of your own")
