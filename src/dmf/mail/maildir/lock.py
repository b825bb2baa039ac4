"""Locks: Dovecot's dotlocks (`dovecot-uidlist.lock`, `subscriptions.lock`), and dmf's
per-user lock for `-l`.

A dotlock is what Dovecot 2.3 does with dotlock_use_excl=yes (its default): create `<file>.lock`
with O_CREAT|O_EXCL and write `<pid>:<hostname>` into it. A lock is stale when its pid is dead
on this host, or when the file has not changed for 120 s (MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT);
Dovecot waits up to 122 s before giving up. dovecot-keywords has no lock of its own: Dovecot
changes it only while holding the uidlist lock, and so do we.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from dmf.errors import TemporaryError
from dmf.mail.maildir.liveness import alive
from dmf.mail.maildir.ownership import Owner, give

STALE_SECONDS = 120
WAIT_SECONDS = STALE_SECONDS + 2
_POLL_SECONDS = 0.05


def _local_pid(content: bytes) -> int | None:
    """The pid of a `<pid>:<host>` lock taken on this host; None for another host's lock."""
    pid_text, _, host = content.decode("utf-8", "replace").strip().partition(":")
    if host == os.uname().nodename and pid_text.isdigit():
        return int(pid_text)
    return None


def _is_stale(lock_path: str) -> bool:
    try:
        with open(lock_path, "rb") as held:
            content = held.read()
        mtime = os.stat(lock_path).st_mtime
    except FileNotFoundError:
        return False
    pid = _local_pid(content)
    if pid is not None:
        return not alive(pid)
    return time.time() - mtime > STALE_SECONDS


def clear_dead_locks(directory: str, targets: Iterable[str]) -> None:
    """Remove `<target>.lock` files in `directory` left by a dead process of this host.

    A run killed while holding a lock leaves it in a mailbox the next run may never open (fast
    mode skips unchanged mailboxes), so listing sweeps them; a missing lock costs one failed
    stat. Another host's lock, or one we may not remove, is left for its owner or to age out.
    """
    for target in targets:
        lock_path = os.path.join(directory, target + ".lock")
        try:
            with open(lock_path, "rb") as held:
                content = held.read(64)
                inode = os.fstat(held.fileno()).st_ino
        except OSError:
            continue
        pid = _local_pid(content)
        if pid is None or alive(pid):
            continue
        with contextlib.suppress(OSError):
            if os.stat(lock_path).st_ino == inode:  # not since replaced by a live holder's
                os.unlink(lock_path)


@contextmanager
def dotlock(target: str | os.PathLike[str], owner: Owner | None,
            timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold `<target>.lock` as Dovecot does (`target` a file's path, no trailing "/");
    TemporaryError after `timeout` seconds."""
    lock_path = os.fspath(target) + ".lock"
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            if _is_stale(lock_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock_path)
                continue
            if time.monotonic() >= deadline:
                raise TemporaryError(f"timed out waiting for {lock_path}") from None
            time.sleep(_POLL_SECONDS)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise TemporaryError(f"disk full: cannot create {lock_path}") from None
            raise
    try:
        os.write(fd, f"{os.getpid()}:{os.uname().nodename}".encode())
    finally:
        os.close(fd)
    give(lock_path, owner)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)


@contextmanager
def user_lock(lock_path: str, owner: Owner | None, timeout: float) -> Iterator[None]:
    """An fcntl lock on `lock_path` excluding concurrent dmf syncs of one user."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    give(lock_path, owner)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise TemporaryError(f"timed out after {timeout:g} s waiting for the user "
                                         f"lock {lock_path}") from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)
