"""`antiphon run` refuses a control socket that another user could change, before it opens
anything (no MIDI system needed), and `antiphon set` tells an impostor nothing. As root,
as CI runs: "another user" is uid 65534.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from impostor import OTHER_UID, impostor_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


@pytest.fixture
def tmp_folder():
    made = Path(tempfile.mkdtemp(prefix="cc", dir="/tmp"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def antiphon(*args: str) -> subprocess.CompletedProcess:
    # A MIDI system that is not there: a start that went past the socket would fail on it
    # with another message.
    env = {**os.environ, "ANTIPHON_BACKEND": "alsa", "JACK_NO_START_SERVER": "1"}
    return subprocess.run([sys.executable, "-m", "antiphon", *args], capture_output=True,
                          text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_root_daemon_refuses_a_socket_in_a_folder_another_user_can_write(tmp_folder):
    shared = tmp_folder / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    result = antiphon("run", "--control-socket", str(shared / "antiphon" / "c.sock"))
    assert_refused(result, "can be written by others", str(shared))
    assert os.listdir(shared) == []


def test_a_root_daemon_refuses_a_socket_folder_of_another_user(tmp_folder):
    theirs = tmp_folder / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    result = antiphon("run", "--control-socket", str(theirs / "c.sock"))
    assert_refused(result, f"belongs to uid {OTHER_UID}", str(theirs))
    assert os.listdir(theirs) == []


def test_a_root_daemon_truncates_no_file_a_planted_lock_points_to(tmp_folder):
    victim = tmp_folder / "victim"
    victim.write_text("precious\n")
    folder = tmp_folder / "sock"
    folder.mkdir(mode=0o700)
    (folder / "c.sock.lock").symlink_to(victim)
    result = antiphon("run", "--control-socket", str(folder / "c.sock"))
    assert_refused(result, "symbolic link", "c.sock.lock")
    assert victim.read_text() == "precious\n"


def test_set_tells_an_impostor_nothing_and_says_who_it_is(tmp_folder):
    os.chmod(tmp_folder, 0o711)
    theirs = tmp_folder / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    path = theirs / "c.sock"
    with impostor_server(path) as impostor:
        result = antiphon("set", "temperature", "0.8", "--control-socket", str(path))
        heard = impostor.heard()
    assert heard == b""
    assert_refused(result, f"uid {OTHER_UID}", f"pid {impostor.pid}", "nothing was sent")
