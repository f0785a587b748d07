"""The control socket's folder and the files in it are trusted only when nobody but the
daemon's user can change them; the client talks only to a server of its own user.

These run as root (as CI does): "another user" is uid 65534 (nobody), by chown, or by a
forked process that drops to it, so the kernel's credentials truly differ.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import pytest
from daemon_helpers import echo
from impostor import OTHER_UID, impostor_server

from antiphon.daemon.control.socket_server import (
    ControlServer,
    NotTheDaemon,
    UnsafePath,
    ask,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


@pytest.fixture
def tmp_folder():
    """A short folder in /tmp (sticky, root's), which another user can reach."""
    made = Path(tempfile.mkdtemp(prefix="cs", dir="/tmp"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def claim(path: Path) -> ControlServer:
    server = ControlServer(path, echo)
    server.claim()
    return server


def refused(path: Path) -> str:
    server = ControlServer(path, echo)
    with pytest.raises(UnsafePath) as error:
        server.claim()
    assert server._socket is None
    return str(error.value)


def test_a_folder_of_another_user_is_refused_and_left_untouched(tmp_folder):
    folder = tmp_folder / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, OTHER_UID, OTHER_UID)
    message = refused(folder / "c.sock")
    assert f"belongs to uid {OTHER_UID}" in message and str(folder) in message
    assert os.listdir(folder) == []  # no lock, no socket made there


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o1777, 0o720])
def test_a_folder_others_can_write_is_refused(tmp_folder, mode):
    folder = tmp_folder / "open"
    folder.mkdir()
    os.chmod(folder, mode)
    message = refused(folder / "c.sock")
    assert "can be written by others" in message and f"{mode:04o}" in message
    assert os.listdir(folder) == []


def test_a_folder_that_is_a_symbolic_link_is_refused(tmp_folder):
    real = tmp_folder / "real"
    real.mkdir(mode=0o700)
    (tmp_folder / "link").symlink_to(real)
    assert "is a symbolic link" in refused(tmp_folder / "link" / "c.sock")
    assert os.listdir(real) == []


def test_a_folder_on_the_way_that_others_can_write_is_refused(tmp_folder):
    # Whoever can write a folder above can rename the socket's folder away and put theirs.
    above = tmp_folder / "above"
    above.mkdir()
    os.chmod(above, 0o777)
    message = refused(above / "antiphon" / "c.sock")
    assert "on the way to the control socket" in message and str(above) in message
    assert not (above / "antiphon").exists()


def test_a_folder_on_the_way_of_another_user_is_refused(tmp_folder):
    above = tmp_folder / "above"
    above.mkdir(mode=0o755)
    os.chown(above, OTHER_UID, OTHER_UID)
    assert f"belongs to uid {OTHER_UID}" in refused(above / "antiphon" / "c.sock")
    assert not (above / "antiphon").exists()


def test_a_link_on_the_way_of_another_user_is_refused(tmp_folder):
    # They could point it elsewhere between the check and the bind.
    target = tmp_folder / "target"
    target.mkdir(mode=0o700)
    link = tmp_folder / "link"
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, OTHER_UID)
    assert "symbolic link" in refused(link / "antiphon" / "c.sock")
    assert os.listdir(target) == []


def test_a_sticky_folder_on_the_way_and_a_link_of_ours_are_followed(tmp_folder):
    # /tmp itself is on the way (root's, sticky); a link of our own is ours to follow.
    target = tmp_folder / "target"
    target.mkdir(mode=0o700)
    (tmp_folder / "link").symlink_to(target)
    server = claim(tmp_folder / "link" / "antiphon" / "c.sock")
    try:
        assert stat.S_ISSOCK((target / "antiphon" / "c.sock").stat().st_mode)
    finally:
        server.close()


def test_a_missing_folder_and_its_parents_are_made_private_whatever_the_umask(tmp_folder):
    previous = os.umask(0)
    try:
        server = claim(tmp_folder / "new" / "antiphon" / "c.sock")
    finally:
        os.umask(previous)
    server.close()
    for made in (tmp_folder / "new", tmp_folder / "new" / "antiphon"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


def test_a_lock_planted_as_a_link_truncates_nothing(tmp_folder):
    victim = tmp_folder / "victim"
    victim.write_text("precious\n")
    folder = tmp_folder / "sock"
    folder.mkdir(mode=0o700)
    (folder / "c.sock.lock").symlink_to(victim)
    assert "symbolic link" in refused(folder / "c.sock")
    assert victim.read_text() == "precious\n"


def test_a_lock_planted_as_a_hard_link_truncates_nothing(tmp_folder):
    victim = tmp_folder / "victim"
    victim.write_text("precious\n")
    folder = tmp_folder / "sock"
    folder.mkdir(mode=0o700)
    os.link(victim, folder / "c.sock.lock")
    assert "other names" in refused(folder / "c.sock")
    assert victim.read_text() == "precious\n"


def test_a_lock_of_another_user_or_not_a_file_is_refused_without_hanging(tmp_folder):
    folder = tmp_folder / "sock"
    folder.mkdir(mode=0o700)
    lock = folder / "c.sock.lock"
    lock.write_text("theirs\n")
    os.chown(lock, OTHER_UID, OTHER_UID)
    assert f"belongs to uid {OTHER_UID}" in refused(folder / "c.sock")
    assert lock.read_text() == "theirs\n"
    lock.unlink()
    os.mkfifo(lock)  # opened for reading and writing, a FIFO would not block; still refused
    assert "not a regular file" in refused(folder / "c.sock")


def test_a_socket_path_that_is_a_link_is_refused(tmp_folder):
    folder = tmp_folder / "sock"
    folder.mkdir(mode=0o700)
    elsewhere = claim(tmp_folder / "other" / "c.sock")  # a live socket, in a folder of ours
    try:
        (folder / "c.sock").symlink_to(elsewhere.path)
        assert "is a symbolic link" in refused(folder / "c.sock")
    finally:
        elsewhere.close()


def test_the_client_sends_nothing_to_a_server_of_another_user(tmp_folder):
    os.chmod(tmp_folder, 0o711)  # the other user reaches its own folder inside
    folder = tmp_folder / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, OTHER_UID, OTHER_UID)
    path = folder / "c.sock"
    with impostor_server(path) as impostor:
        with pytest.raises(NotTheDaemon) as error:
            ask(path, {"command": "set", "key": "temperature", "value": "0.8"}, timeout=5)
        heard = impostor.heard()
    message = str(error.value)
    assert f"uid {OTHER_UID}" in message and f"pid {impostor.pid}" in message
    assert str(path) in message
    assert heard == b""  # not a byte of the request reached it


def test_the_client_talks_to_a_server_of_its_own_user(tmp_folder):
    server = claim(tmp_folder / "mine" / "c.sock")
    server.start()
    try:
        assert ask(server.path, {"command": "ping"}, timeout=5) == {
            "ok": True, "echo": {"command": "ping"}}
    finally:
        server.close()


def test_peer_credentials_name_the_listening_process(tmp_folder):
    from antiphon.daemon.control.client import peer_credentials

    server = claim(tmp_folder / "mine" / "c.sock")
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with client:
            client.connect(str(server.path))
            assert peer_credentials(client) == (os.getpid(), os.geteuid())
    finally:
        server.close()


def test_a_link_then_dot_dot_is_followed_where_the_kernel_goes_not_by_the_text(tmp_folder):
    # `mine/link/..` is `mine` to the text, but the kernel (and the bind) goes up from the
    # link's target: into a folder another user can write, where they could swap the socket.
    theirs = tmp_folder / "theirs"
    (theirs / "inner").mkdir(parents=True)
    os.chmod(theirs, 0o777)
    mine = tmp_folder / "mine"
    mine.mkdir(mode=0o700)
    (mine / "link").symlink_to(theirs / "inner")
    message = refused(mine / "link" / ".." / "c.sock")
    assert str(theirs) in message and "can be written by others" in message
    assert sorted(os.listdir(theirs)) == ["inner"] and sorted(os.listdir(mine)) == ["link"]


def test_a_relative_path_through_dot_dot_is_checked_where_it_leads(tmp_folder, monkeypatch):
    (tmp_folder / "mine").mkdir(mode=0o700)
    monkeypatch.chdir(tmp_folder / "mine")
    server = claim(Path("sub") / ".." / "c.sock")  # made on the way, then gone up from
    try:
        assert stat.S_ISSOCK((tmp_folder / "mine" / "c.sock").stat().st_mode)
    finally:
        server.close()


def test_a_folder_on_the_way_that_another_user_made_first_is_refused(tmp_folder, monkeypatch):
    # In /tmp, another user can make a missing folder on the way between the check and the
    # mkdir; the folder made inside it would then be theirs to swap.
    ahead = tmp_folder / "new"
    real_makedirs = os.makedirs

    def raced(name, mode=0o777, exist_ok=False):
        if not ahead.exists():
            ahead.mkdir(mode=0o755)
            os.chown(ahead, OTHER_UID, OTHER_UID)
        real_makedirs(name, mode, exist_ok)

    monkeypatch.setattr(os, "makedirs", raced)
    message = refused(ahead / "antiphon" / "c.sock")
    assert f"belongs to uid {OTHER_UID}" in message and str(ahead) in message


def test_a_stale_socket_of_another_user_is_not_replaced(tmp_folder):
    folder = tmp_folder / "sock"
    folder.mkdir(mode=0o700)
    path = folder / "c.sock"
    planted = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    planted.bind(str(path))
    planted.close()  # nobody listens: it would pass for one a killed daemon left
    os.lchown(path, OTHER_UID, OTHER_UID)
    message = refused(path)
    assert f"belongs to uid {OTHER_UID}" in message and "refusing to replace it" in message
    assert os.lstat(path).st_uid == OTHER_UID
    assert os.listdir(folder) == ["c.sock"]


def test_a_folder_an_acl_lets_another_user_write_is_refused(tmp_folder):
    # The mode's group bits show an ACL's mask: a named user's write shows there.
    import struct

    folder = tmp_folder / "acl"
    folder.mkdir(mode=0o700)
    user_obj, user, group_obj, mask, other = 0x01, 0x02, 0x04, 0x10, 0x20
    entries = [(user_obj, 7, -1), (user, 7, OTHER_UID), (group_obj, 0, -1), (mask, 7, -1),
               (other, 0, -1)]
    acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid & 0xFFFFFFFF)
                                          for tag, perm, uid in entries)
    try:
        os.setxattr(folder, "system.posix_acl_access", acl)
    except OSError as err:
        pytest.skip(f"no POSIX ACLs here: {err}")
    assert "can be written by others" in refused(folder / "c.sock")
    assert os.listdir(folder) == []
