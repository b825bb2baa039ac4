"""The order of a commit's writes and syncs (mailbox.py's docstring): no name on disk, in new/,
cur/ or a uidlist, refers to a file before that file is durable, and a run's commits are durable
when its store closes. A power cut cannot be staged in a test, so this records the calls the
kernel is asked for, in order, and checks each rename and link against the syncs before it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from dmf.mail import durability
from dmf.mail.location import open_storage
from dmf.mail.model import MessageMeta
from dmf.mail.storage import Body

BODY = b"Subject: order\r\n\r\nbody\r\n"


def _body() -> Body:
    return Body(open=lambda: io.BytesIO(BODY))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(call, path) of every syncfs, fsync, rename and link, passed on to the kernel; an
    fsync names the file or directory of its descriptor, a syncfs its filesystem's device."""
    recorded: list[tuple[str, str]] = []
    real_fsync, real_rename, real_link = os.fsync, os.rename, os.link
    real_syncfs = durability._syncfs()
    assert real_syncfs is not None, "this machine's libc has syncfs"

    def fsync(fd: int) -> None:
        recorded.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def syncfs(fd: int) -> int:
        recorded.append(("syncfs", str(os.fstat(fd).st_dev)))
        return real_syncfs(fd)

    def rename(source, target, **kwargs) -> None:
        recorded.append(("rename", os.fspath(target)))
        real_rename(source, target, **kwargs)

    def link(source, target, **kwargs) -> None:
        directory = kwargs.get("dst_dir_fd")
        recorded.append(("link", os.fspath(target) if directory is None else
                         f"{os.readlink(f'/proc/self/fd/{directory}')}/{target}"))
        real_link(source, target, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(durability, "_syncfs", lambda: syncfs)
    return recorded


def _synced_since(calls: list[tuple[str, str]], start: int, end: int, path: str) -> bool:
    device = str(os.stat(path).st_dev)
    return any((call, synced) in (("syncfs", device), ("fsync", path))
               for call, synced in calls[start:end])


def test_every_name_follows_the_sync_of_what_it_names(tmp_path: Path, calls) -> None:
    store = open_storage(f"maildir:{tmp_path}/dest", user="u", home=None, create=True)
    box = store.create_mailbox("Work")
    for uid, flags, keywords in ((1, frozenset(), frozenset()),
                                 (2, frozenset({"\\Seen"}), frozenset({"$Label1"})),
                                 (3, frozenset({"\\Flagged"}), frozenset())):
        box.save(MessageMeta(uid=uid, guid=f"guid{uid}", flags=flags, keywords=keywords,
                             internal_date=1_600_000_000, size=len(BODY)), _body())
    del calls[:]
    box.commit()
    committed = len(calls)
    store.close()
    mailbox_dir = str(tmp_path / "dest" / ".Work")
    control_files = {f"{mailbox_dir}/dovecot-uidlist.dmf-pending",
                     f"{mailbox_dir}/dovecot-keywords"}
    syncfs = ("syncfs", str(os.stat(mailbox_dir).st_dev))
    first_sync = calls.index(syncfs)
    named = [(index, call, path) for index, (call, path) in enumerate(calls)
             if call in ("rename", "link")]
    assert {path for _, _, path in named} >= control_files | {f"{mailbox_dir}/dovecot-uidlist"}
    assert all(index > first_sync for index, _, _ in named), \
        "bodies and control files are synced before any name refers to them"
    pending = calls.index(("rename", f"{mailbox_dir}/dovecot-uidlist.dmf-pending"))
    final = calls.index(("rename", f"{mailbox_dir}/dovecot-uidlist"))
    links = [index for index, call, _ in named if call == "link"]
    assert len(links) == 3
    assert pending < min(links) and _synced_since(calls, pending, min(links), mailbox_dir), \
        "the pending uidlist is durable before a body gets its name"
    for subdir in ("new", "cur"):
        placed = max(index for index, call, path in named
                     if call == "link" and f"/{subdir}/" in path)
        assert _synced_since(calls, placed, final, f"{mailbox_dir}/{subdir}"), \
            f"the names in {subdir}/ are durable before the uidlist lists them"
    assert not _synced_since(calls, final, committed, mailbox_dir), \
        "the uidlist's own rename waits for the store's close"
    assert syncfs in calls[committed:], "close makes the commits durable"
    syncs = [call for call, _ in calls[:committed] if call in ("syncfs", "fsync")]
    assert len(syncs) == 4, "one syncfs, then the control directory, new/ and cur/"


def test_a_commit_without_bodies_syncs_its_files_not_the_filesystem(tmp_path: Path,
                                                                     calls) -> None:
    store = open_storage(f"maildir:{tmp_path}/dest", user="u", home=None, create=True)
    box = store.create_mailbox("Work")
    box.save(MessageMeta(uid=1, guid="guid1", internal_date=1_600_000_000, size=len(BODY)),
             _body())
    box.commit()
    del calls[:]
    box.expunge([1])
    box.commit()
    assert not any(call == "syncfs" for call, _ in calls), \
        "others' dirty data is not flushed for a small change"
    assert calls[0] == ("fsync", str(tmp_path / "dest" / ".Work" / "dovecot-uidlist.tmp"))


def test_control_files_elsewhere_are_synced_on_their_own_filesystem(tmp_path: Path,
                                                                     small_tmpfs: Path,
                                                                     calls) -> None:
    """With :CONTROL= on another filesystem the bodies' syncfs does not cover the uidlist: it
    gets its own fsync, and the store's close syncs each filesystem it changed."""
    store = open_storage(f"maildir:{tmp_path}/dest:CONTROL={small_tmpfs}/control", user="u",
                         home=None, create=True)
    box = store.create_mailbox("Work")
    box.save(MessageMeta(uid=1, guid="guid1", internal_date=1_600_000_000, size=len(BODY)),
             _body())
    del calls[:]
    box.commit()
    committed = len(calls)
    store.close()
    control = small_tmpfs / "control" / ".Work"
    temp = str(control / "dovecot-uidlist.tmp")
    pending = calls.index(("rename", str(control / "dovecot-uidlist.dmf-pending")))
    assert ("fsync", temp) in calls[:pending]
    devices = {call[1] for call in calls[committed:] if call[0] == "syncfs"}
    assert devices == {str(os.stat(tmp_path).st_dev), str(os.stat(small_tmpfs).st_dev)}


def test_mailboxes_created_together_share_one_sync_before_their_uidlists(tmp_path: Path,
                                                                          calls) -> None:
    """Inside `creating()` the new uidlists are written, synced once, then renamed into
    place: each is durable before its name, and there is no fsync per mailbox."""
    store = open_storage(f"maildir:{tmp_path}/dest", user="u", home=None, create=True)
    del calls[:]
    guids = {name: f"{index:032x}" for index, name in enumerate(("A", "B", "B/C"), start=1)}
    with store.creating():
        for name, guid in guids.items():
            store.create_mailbox(name, guid=guid, uidvalidity=1234)
        assert not (tmp_path / "dest" / ".A" / "dovecot-uidlist").exists()
    device = str(os.stat(tmp_path / "dest").st_dev)
    renames = [index for index, (call, path) in enumerate(calls)
               if call == "rename" and path.endswith("/dovecot-uidlist")]
    assert len(renames) == 3
    assert calls[:renames[0]] == [("syncfs", device)], "one sync, before the first rename"
    for name, guid in guids.items():
        assert store.mailbox(name).meta[1:3] == (guid, 1234)
    assert not list((tmp_path / "dest").rglob("*.dmf-tmp"))
