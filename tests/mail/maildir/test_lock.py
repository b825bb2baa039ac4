"""The per-user lock and Dovecot's dovecot-uidlist.lock protocol."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmf.errors import TemporaryError
from dmf.mail.location import open_storage
from dmf.mail.maildir.lock import dotlock
from dmf.mail.sample import write_sample_maildir
from tests.fixtures.processes import wait_until_zombie

UIDLIST = "dovecot-uidlist"
LOCK_NAME = "dovecot-uidlist.lock"
HOLD_USER_LOCK = """
import sys, time
from dmf.mail.location import open_storage
storage = open_storage("maildir:" + sys.argv[1], user="u", home=None)
with storage.lock(5):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_user_lock_excludes_another_process(tmp_path: Path) -> None:
    storage = open_storage(f"maildir:{tmp_path}/m", user="u", home=None, create=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_USER_LOCK, str(tmp_path / "m"), "1"],
                              stdout=subprocess.PIPE, env={**os.environ,
                                                           "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        started = time.monotonic()
        with pytest.raises(TemporaryError, match="user lock"), storage.lock(0.2):
            pass
        assert 0.2 <= time.monotonic() - started < 1
        with storage.lock(5):  # waits for the holder to finish
            pass
    finally:
        holder.kill()
        holder.wait()


def test_uidlist_lock_is_dovecots_dotlock(tmp_path: Path) -> None:
    with dotlock(tmp_path / UIDLIST, None):
        content = (tmp_path / LOCK_NAME).read_text()
        assert content == f"{os.getpid()}:{socket.gethostname()}"
        with pytest.raises(TemporaryError, match="timed out"), \
                dotlock(tmp_path / UIDLIST, None, 0.1):
            pass
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_uidlist_locks_are_broken(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = tmp_path / LOCK_NAME
    lock.write_text(f"{dead.pid}:{socket.gethostname()}")
    with dotlock(tmp_path / UIDLIST, None, 0.5):
        pass
    lock.write_text("1:some-other-host")
    os.utime(lock, (time.time() - 200, time.time() - 200))
    with dotlock(tmp_path / UIDLIST, None, 0.5):
        pass
    lock.write_text("1:some-other-host")  # fresh, owned elsewhere: respected
    with pytest.raises(TemporaryError), dotlock(tmp_path / UIDLIST, None, 0.2):
        pass


def test_a_lock_of_a_killed_process_not_yet_reaped_is_broken(tmp_path: Path) -> None:
    zombie = subprocess.Popen(["true"])
    try:
        wait_until_zombie(zombie.pid)  # exited, and not reaped until the end
        lock = tmp_path / LOCK_NAME
        lock.write_text(f"{zombie.pid}:{socket.gethostname()}")
        with dotlock(tmp_path / UIDLIST, None, 0.5):
            pass
        lock.write_text(f"{os.getpid()}:{socket.gethostname()}")  # a live holder: respected
        with pytest.raises(TemporaryError), dotlock(tmp_path / UIDLIST, None, 0.2):
            pass
    finally:
        zombie.wait()


HOLD_DOTLOCKS = """
import sys, time
from contextlib import ExitStack
from pathlib import Path
from dmf.mail.maildir.lock import dotlock
from dmf.mail.sample import write_sample_maildir
from tests.fixtures.processes import wait_until_zombie
with ExitStack() as stack:
    for target in sys.argv[1:]:
        stack.enter_context(dotlock(Path(target), None, 1))
    print("locked", flush=True)
    time.sleep(30)
"""


def _hold_dotlocks(*targets: Path) -> subprocess.Popen[bytes]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_DOTLOCKS, *map(str, targets)],
                              stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    return holder


def test_listing_removes_locks_of_a_killed_process_in_every_mailbox(tmp_path: Path) -> None:
    """A backup killed while holding locks leaves them in mailboxes the next (fast mode) run
    never opens; listing the store, as every run does first, removes them."""
    root = tmp_path / "m"
    write_sample_maildir(root, messages=20)
    storage = open_storage(f"maildir:{root}", user="u", home=None)
    storage.list_mailboxes()  # numbers the mailboxes the sample left without a uidlist
    storage.close()
    sent, archive = root / ".Sent", root / ".Archive"
    killed = _hold_dotlocks(sent / UIDLIST, sent / "dovecot-keywords", root / "subscriptions")
    killed.kill()
    killed.wait()
    live = _hold_dotlocks(archive / UIDLIST)
    foreign = root / ".Archive.2024" / LOCK_NAME
    foreign.write_text("1:some-other-host")
    try:
        stale = [sent / LOCK_NAME, sent / "dovecot-keywords.lock", root / "subscriptions.lock"]
        assert all(path.exists() for path in stale)
        storage = open_storage(f"maildir:{root}", user="u", home=None)
        storage.list_mailboxes()
        storage.close()
        assert [path for path in stale if path.exists()] == []
        assert (archive / LOCK_NAME).read_text() == f"{live.pid}:{socket.gethostname()}"
        assert foreign.read_text() == "1:some-other-host"  # its owner may be alive elsewhere
    finally:
        live.kill()
        live.wait()
