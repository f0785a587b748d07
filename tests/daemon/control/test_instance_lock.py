"""The instance lock and the record beside it of what the daemon opened: what the service's
stop hook finds after a daemon died, while another runs, or when nothing was opened. Real
processes hold real locks; the files are checked as the control socket's folder is."""

from __future__ import annotations

import json
import os
import stat

import pytest
from lock_holder import hold

from antiphon.daemon.config.private_folder import UnsafePath, open_folder
from antiphon.daemon.control.instance_lock import InstanceLock, Stopped, stopped_instance


def test_a_live_daemon_is_found_running_and_its_record_is_left_alone(folder):
    path = folder / "c.sock"
    holder = hold(path)
    try:
        with stopped_instance(path) as found:
            assert found == Stopped(running=str(holder.pid))
        record = folder / "c.sock.opened"
        assert json.loads(record.read_text()) == {"pid": holder.pid, "backend": "jack",
                                                  "out_port": "e2e synth"}
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_daemon_leaves_its_record_which_is_consumed_once(folder):
    path = folder / "c.sock"
    holder = hold(path, out_port="")
    holder.kill()  # SIGKILL: nothing of its own clean-up runs
    holder.wait()
    with stopped_instance(path) as found:
        assert found.running is None
        assert found.opened == {"pid": holder.pid, "backend": "jack", "out_port": None}
    with stopped_instance(path) as found:
        assert found == Stopped()  # silenced once: the next stop finds nothing


def test_a_daemon_that_lets_go_takes_its_record_with_it(folder):
    path = folder / "c.sock"
    lock = InstanceLock(path)
    descriptor = open_folder(folder, create=False)
    try:
        lock.acquire(descriptor)
        lock.record({"backend": "jack", "out_port": "synth"})
        assert (folder / "c.sock.opened").exists()
        lock.release()
    finally:
        os.close(descriptor)
    assert not (folder / "c.sock.opened").exists()
    with stopped_instance(path) as found:
        assert found == Stopped()


def test_no_folder_or_no_lock_means_no_daemon_ever_ran_there(folder):
    with stopped_instance(folder / "missing" / "c.sock") as found:
        assert found == Stopped()
    with stopped_instance(folder / "c.sock") as found:
        assert found == Stopped()
    assert not (folder / "missing").exists()  # looking makes nothing


def test_a_record_planted_as_a_link_is_refused_and_its_target_untouched(folder, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text('{"backend": "jack", "out_port": "their synth"}\n')
    (folder / "c.sock.lock").write_text("")
    os.chmod(folder / "c.sock.lock", 0o600)
    (folder / "c.sock.opened").symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        with stopped_instance(folder / "c.sock"):
            pass
    assert victim.exists()


def test_recording_never_follows_a_planted_link(folder, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (folder / "c.sock.opened").symlink_to(victim)
    lock = InstanceLock(folder / "c.sock")
    descriptor = open_folder(folder, create=False)
    try:
        lock.acquire(descriptor)  # an earlier holder's record: the link goes, not its target
        assert not os.path.lexists(folder / "c.sock.opened")
        (folder / "c.sock.opened").symlink_to(victim)  # planted while the daemon runs
        with pytest.raises(UnsafePath, match="symbolic link"):
            lock.record({"backend": "jack", "out_port": None})
        lock.release()
    finally:
        os.close(descriptor)
    assert victim.read_text() == "precious\n"


def test_a_record_an_earlier_holder_left_is_not_the_next_daemons(folder):
    # A daemon started by hand was killed long ago and left its record; the service's
    # daemon takes the lock and dies before it opens any output: its stop hook must not
    # silence the port the earlier one had.
    path = folder / "c.sock"
    earlier = hold(path, out_port="their synth")
    earlier.kill()
    earlier.wait()
    later = hold(path, out_port="")
    later.kill()
    later.wait()
    (folder / "c.sock.opened").unlink()  # as if `later` died before recording anything
    with stopped_instance(path) as found:
        assert found == Stopped()

    earlier = hold(path, out_port="their synth")
    earlier.kill()
    earlier.wait()
    lock = InstanceLock(path)
    descriptor = open_folder(folder, create=False)
    try:
        lock.acquire(descriptor)  # takes the lock, opens nothing yet
        assert not (folder / "c.sock.opened").exists()
        os.close(lock._fd)  # dies: the kernel lets go of the lock, nothing else runs
        os.close(lock._folder_fd)
    finally:
        os.close(descriptor)
    with stopped_instance(path) as found:
        assert found == Stopped()
