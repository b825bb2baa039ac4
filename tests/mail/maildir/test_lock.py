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
