"""A commit that need not wait (`commit(wait=False)`) finishes its batch in a thread: nothing
of the batch shows on disk before its sync is done, the mailbox's next use waits for it, an
error it meets comes out there, and a fork waits for it first."""

from __future__ import annotations

import errno
import io
import os
import threading
from pathlib import Path

import pytest

from dmf.errors import TemporaryError
from dmf.mail import durability
from dmf.mail.location import open_storage
from dmf.mail.maildir import bodies
from dmf.mail.maildir.store import MaildirStorage
from dmf.mail.model import MessageMeta
from dmf.mail.storage import Body

BODY = b"Subject: later\r\n\r\nbody\r\n"


def _store(root: Path) -> MaildirStorage:
    store = open_storage(f"maildir:{root}", user="u", home=None, create=True)
    assert isinstance(store, MaildirStorage)
    return store


def _save(store: MaildirStorage, uids: range) -> None:
    box = store.mailbox("INBOX")
    for uid in uids:
        box.save(MessageMeta(uid=uid, guid=f"guid{uid}", internal_date=1_600_000_000,
                             size=len(BODY)), Body(open=lambda: io.BytesIO(BODY)))


def _on_disk(root: Path) -> tuple[list[str], list[str]]:
    """(UIDs in dovecot-uidlist, files in new/ and cur/), read without dmf."""
    lines = (root / "dovecot-uidlist").read_text().splitlines()[1:]
    return ([line.split()[0] for line in lines],
            sorted(os.listdir(root / "new") + os.listdir(root / "cur")))


@pytest.fixture
def held_sync(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """syncfs waits for the returned event (at most 10 s) before it syncs."""
    release = threading.Event()
    real = durability._syncfs()
    assert real is not None

    def syncfs(fd: int) -> int:
        release.wait(10)
        return real(fd)

    monkeypatch.setattr(durability, "_syncfs", lambda: syncfs)
    return release


def test_a_batch_shows_only_once_synced_and_the_next_use_waits(tmp_path: Path,
                                                               held_sync) -> None:
    store = _store(tmp_path)
    _save(store, range(1, 4))
    box = store.mailbox("INBOX")
    box.commit(wait=False)  # returns with the sync still held
    assert _on_disk(tmp_path) == ([], [])
    held_sync.set()
    assert [m.uid for m in box.messages()] == [1, 2, 3]
    uids, files = _on_disk(tmp_path)
    assert uids == ["1", "2", "3"] and len(files) == 3
    store.close()
    assert [m.uid for m in _store(tmp_path).mailbox("INBOX").messages()] == [1, 2, 3]


def test_an_error_of_the_tail_comes_out_at_the_next_use_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    _save(store, range(1, 3))
    store.mailbox("INBOX").commit()
    held = bodies._unnamed.held
    real_rename = os.rename

    def rename(source, target, **kwargs) -> None:
        if os.fspath(target).endswith("dmf-pending"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_rename(source, target, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    _save(store, range(3, 5))
    box = store.mailbox("INBOX")
    box.commit(wait=False)
    with pytest.raises(TemporaryError, match="disk full"):
        list(box.messages())
    monkeypatch.setattr(os, "rename", real_rename)
    assert [m.uid for m in box.messages()] == [1, 2], "read again from disk"
    assert _on_disk(tmp_path)[0] == ["1", "2"]
    assert len(_on_disk(tmp_path)[1]) == 2
    assert bodies._unnamed.held == held, "the failed batch's bodies were closed"
    assert not (tmp_path / "dovecot-uidlist.lock").exists()
    store.close()


def test_a_keyword_first_given_in_a_failed_batch_is_written_by_the_next_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed batch was to write dovecot-keywords; the mailbox must not remember the
    keyword's letter as if it had."""
    store = _store(tmp_path)
    box = store.mailbox("INBOX")
    real_rename = os.rename

    def rename(source, target, **kwargs) -> None:
        if os.fspath(target).endswith("dovecot-keywords"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_rename(source, target, **kwargs)

    def save(uid: int) -> None:
        box.save(MessageMeta(uid=uid, guid=f"guid{uid}", keywords=frozenset({"$Label1"}),
                             internal_date=1_600_000_000, size=len(BODY)),
                 Body(open=lambda: io.BytesIO(BODY)))

    monkeypatch.setattr(os, "rename", rename)
    save(1)
    box.commit(wait=False)
    with pytest.raises(TemporaryError, match="disk full"):
        list(box.messages())
    monkeypatch.setattr(os, "rename", real_rename)
    assert not (tmp_path / "dovecot-keywords").exists()
    save(2)
    box.commit()
    assert (tmp_path / "dovecot-keywords").read_text() == "0 $Label1\n"
    assert [m.keywords for m in _store(tmp_path).mailbox("INBOX").messages()] == [
        frozenset({"$Label1"})]
    store.close()


def test_the_store_close_waits_for_every_tail_and_raises_the_first_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    store.create_mailbox("Other")
    real_rename = os.rename

    def rename(source, target, **kwargs) -> None:
        if f"{os.sep}.Other{os.sep}" in os.fspath(target) and \
                os.fspath(target).endswith("dmf-pending"):
            raise OSError(errno.EIO, "Input/output error")
        real_rename(source, target, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    _save(store, range(1, 3))
    store.mailbox("INBOX").commit(wait=False)
    other = store.mailbox("Other")
    other.save(MessageMeta(uid=1, guid="other1", internal_date=1_600_000_000, size=len(BODY)),
               Body(open=lambda: io.BytesIO(BODY)))
    other.commit(wait=False)
    with pytest.raises(OSError, match="Input/output error"):
        store.close()
    assert _on_disk(tmp_path)[0] == ["1", "2"], "the other mailbox's batch still finished"


def test_a_fork_waits_for_a_running_tail(tmp_path: Path, held_sync) -> None:
    store = _store(tmp_path)
    _save(store, range(1, 3))
    store.mailbox("INBOX").commit(wait=False)
    threading.Timer(0.3, held_sync.set).start()
    pid = os.fork()
    if pid == 0:  # the child sees the commit done: the fork waited for it
        os._exit(0 if _on_disk(tmp_path)[0] == ["1", "2"] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.close()
