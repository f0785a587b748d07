"""`antiphon service install | uninstall`: write or remove the systemd unit that runs
`antiphon run` as a headless service (a user unit by default, a system one with --system).

Only files are touched here; the `systemctl` commands that load, enable and start the unit
are printed for the user to run, so nothing changes in a running system behind their back.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from antiphon.daemon.cli.shared import USAGE_ERROR, console, fail
from antiphon.daemon.service.systemd import (
    UNIT_NAME,
    enabled_link,
    render_unit,
    unit_path,
)

service_app = typer.Typer(
    help="Run Antiphon as a systemd service: write or remove its unit file.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ScopeOption = Annotated[bool, typer.Option(
    "--user/--system",
    help="A unit of your own user manager (runs while you are logged in, or always with "
         "lingering), or a system-wide one in /etc (needs root). \\[default: --user]",
    show_default=False)]


def _scope(user: bool) -> str:
    return "user" if user else "system"


def _systemctl(scope: str) -> str:
    return "systemctl --user" if scope == "user" else "systemctl"


def antiphon_executable() -> Path | None:
    """The `antiphon` command the unit should run: the console script running now when this
    is one (the install the user means, even outside PATH), else the one on PATH."""
    invoked = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if invoked is not None and invoked.name == "antiphon" and invoked.is_file():
        return invoked.resolve()
    found = shutil.which("antiphon")
    return Path(found).resolve() if found else None


@service_app.command()
def install(
    user: ScopeOption = True,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML file the service runs with. \\[default: the usual config "
                         "file, when there is one]", dir_okay=False, show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing antiphon.service that differs.")] = False,
) -> None:
    """Write antiphon.service, which runs `antiphon run` and silences the synth after it."""
    from antiphon.daemon.config.daemon_config import ConfigError
    from antiphon.daemon.config.loading import load_config

    scope = _scope(user)
    executable = antiphon_executable()
    if executable is None:
        fail("cannot find the antiphon command: put it on PATH, or run this as "
             "/path/to/antiphon service install")
    if config is not None:
        config = config.expanduser().absolute()
        if not config.is_file():
            fail(f"--config {config}: no such file", USAGE_ERROR)
        try:
            # The environment the service will have is not this one: check the file alone.
            load_config(config, {}, {})
        except ConfigError as err:
            fail(str(err), USAGE_ERROR)
    try:
        text = render_unit(executable, config, scope)
    except ValueError as err:
        fail(str(err))
    path = unit_path(scope)
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else None
    except OSError as err:
        fail(f"cannot read {path}: {err.strerror or err}")
    if existing is not None and existing != text and not force:
        fail(f"{path} already exists and differs; --force replaces it")
    if existing != text:
        _write(path, text, scope)
        console.print(f"wrote {escape(str(path))}", soft_wrap=True)
    else:
        console.print(f"{escape(str(path))} is already up to date", soft_wrap=True)
    _print_next_steps(scope)


def _write(path: Path, text: str, scope: str) -> None:
    """Write the unit whole or not at all (systemd could read it at any moment)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{UNIT_NAME}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temporary, 0o644)  # systemd and `systemctl cat` read it as any user
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror or err}{_root_hint(err, scope, 'install')}")


def _root_hint(err: OSError, scope: str, command: str) -> str:
    if isinstance(err, PermissionError) and scope == "system":
        return f" (a system unit needs root: sudo antiphon service {command} --system)"
    return ""


def _print_next_steps(scope: str) -> None:
    systemctl = _systemctl(scope)
    journal = "journalctl --user -u antiphon -f" if scope == "user" else "journalctl -u antiphon -f"
    lines = [
        "next, load and start it (and at every login or boot from now on):",
        f"  {systemctl} daemon-reload",
        f"  {systemctl} enable --now {UNIT_NAME}",
        "then:",
        f"  {journal.ljust(34)}  follow its log",
        f"  {'antiphon status'.ljust(34)}  ask the running daemon",
    ]
    if scope == "user":
        lines += [
            "on a machine nobody logs into, let your services run without a login:",
            f"  loginctl enable-linger {_user_name()}",
        ]
    console.print("\n".join(escape(line) for line in lines), soft_wrap=True)


def _user_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no LOGNAME: say it generically
        return "$USER"


@service_app.command()
def uninstall(user: ScopeOption = True) -> None:
    """Remove antiphon.service (disable it first: `systemctl [--user] disable --now`)."""
    scope = _scope(user)
    systemctl = _systemctl(scope)
    path = unit_path(scope)
    # `systemctl disable` reads the unit's [Install] section to find its links: with the
    # file gone first, the links would stay behind and the unit come back at the next boot.
    if enabled_link(scope).is_symlink():
        fail(f"{UNIT_NAME} is still enabled: run `{systemctl} disable --now {UNIT_NAME}` "
             f"first, then this again")
    if not path.exists():
        console.print(f"no unit at {escape(str(path))}: nothing to remove", soft_wrap=True)
        return
    try:
        path.unlink()
    except OSError as err:
        fail(f"cannot remove {path}: {err.strerror or err}"
             f"{_root_hint(err, scope, 'uninstall')}")
    console.print(f"removed {escape(str(path))}", soft_wrap=True)
    console.print("\n".join(escape(line) for line in [
        "then let systemd forget it (and stop it, if it still runs):",
        f"  {systemctl} stop {UNIT_NAME}",
        f"  {systemctl} daemon-reload",
    ]), soft_wrap=True)
