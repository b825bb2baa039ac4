"""Bad input: each gives one clear error naming the problem and changes nothing stored."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from dmf.errors import NotPossibleError, PermissionDeniedError, TemporaryError
from dmf.mail.location import open_storage
from dmf.mail.maildir.store import MaildirStorage
from dmf.mail.model import MessageMeta
from dmf.mail.sample import write_sample_maildir
from dmf.mail.storage import Body


def storage_at(path: Path, create: bool = False) -> MaildirStorage:
    return open_storage(f"maildir:{path}", user="u", home=None, create=create)


def tree_digest(root: Path) -> str:
    hashed = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        hashed.update(str(path.relative_to(root)).encode())
        if path.is_file():
            hashed.update(path.read_bytes())
    return hashed.hexdigest()


def body(content: bytes) -> Body:
    return Body(open=lambda: io.BytesIO(content))


def test_corrupt_uidlist_names_file_and_line_and_changes_nothing(sample_maildir: Path) -> None:
    uidlist = sample_maildir / ".Sent" / "dovecot-uidlist"
    lines = uidlist.read_bytes().split(b"\n")
    uidlist.write_bytes(b"\n".join([*lines[:3], b"garbage here", *lines[3:]]))
    before = tree_digest(sample_maildir)
    storage = storage_at(sample_maildir)
    with pytest.raises(NotPossibleError) as caught:
        list(storage.mailbox("Sent").messages())
    assert f"{uidlist} line 4" in str(caught.value)
    assert tree_digest(sample_maildir) == before


def test_truncated_uidlist_is_refused(sample_maildir: Path) -> None:
    uidlist = sample_maildir / "dovecot-uidlist"
    uidlist.write_bytes(uidlist.read_bytes()[:-5])
    before = tree_digest(sample_maildir)
    with pytest.raises(NotPossibleError, match="truncated"):
        storage_at(sample_maildir).mailbox("INBOX").recent_count()
    assert tree_digest(sample_maildir) == before


def test_missing_cur_is_recreated_as_dovecot_does(sample_maildir: Path) -> None:
    shutil.rmtree(sample_maildir / ".Sent" / "cur")
    messages = list(storage_at(sample_maildir).mailbox("Sent").messages())
    assert messages and all(not message.flags for message in messages)
    assert (sample_maildir / ".Sent" / "cur").is_dir()


@pytest.mark.parametrize("name", ["a//b", "../escape", "x/..", "ctl\x07", "/lead", "dot.ted"])
def test_bad_folder_names_are_refused(tmp_path: Path, name: str) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    before = tree_digest(tmp_path / "m")
    with pytest.raises(NotPossibleError) as caught:
        storage.create_mailbox(name)
    assert repr(name) in str(caught.value)
    assert tree_digest(tmp_path / "m") == before


def test_tilde_names_are_kept_as_they_are(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    storage.create_mailbox("~R&D").save(MessageMeta(0, "g"), body(b"x\n"))
    storage.mailbox("~R&D").commit()
    assert (tmp_path / "m" / ".~R&-D" / "dovecot-uidlist").exists()
    assert "~R&D" in {meta.name for meta in storage_at(tmp_path / "m").list_mailboxes()}


def test_malformed_messages_are_stored_byte_exact(tmp_path: Path) -> None:
    nasty = [b"", b"\x00\x01\xff\r\r\n\n", b"no header", b"x" * 10_000_000,
             "Subject: ünïcode\n\n8bit\n".encode()]
    storage = storage_at(tmp_path / "m", create=True)
    box = storage.mailbox("INBOX")
    for index, content in enumerate(nasty):
        box.save(MessageMeta(0, f"g{index}"), body(content))
    box.commit()
    reread = storage_at(tmp_path / "m").mailbox("INBOX")
    stored = [(m.size, reread.open_body(m.uid).read()) for m in reread.messages()]
    assert stored == [(len(content), content) for content in nasty]


def test_read_only_filesystem(small_tmpfs: Path) -> None:
    write_sample_maildir(small_tmpfs / "Maildir", messages=20, seed=5)
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    before = tree_digest(small_tmpfs)
    storage = storage_at(small_tmpfs / "Maildir")
    # reading still works, also for a folder that has no uidlist yet (numbered in memory)
    counts = {meta.name: len(list(storage.mailbox(meta.name).messages()))
              for meta in storage.list_mailboxes()}
    assert sum(counts.values()) == 20
    # the folder without a uidlist has the same identity on every run
    assert storage_at(small_tmpfs / "Maildir").mailbox("Archive/2024").meta == \
        storage_at(small_tmpfs / "Maildir").mailbox("Archive/2024").meta
    with pytest.raises(PermissionDeniedError, match="Read-only file system"):
        storage.create_mailbox("New")
    with pytest.raises(PermissionDeniedError, match="Read-only file system"):
        storage_at(small_tmpfs / "Other", create=True)
    box = storage.mailbox("INBOX")
    with pytest.raises(PermissionDeniedError, match="Read-only file system"):
        box.save(MessageMeta(0, "g"), body(b"x\n"))
    box.close()
    assert tree_digest(small_tmpfs) == before


def test_full_disk_is_temporary_and_loses_nothing(small_tmpfs: Path) -> None:
    storage = storage_at(small_tmpfs / "Maildir", create=True)
    box = storage.mailbox("INBOX")
    stored: list[bytes] = []
    with pytest.raises(TemporaryError, match="disk full"):
        for number in range(200):
            content = b"%d\n" % number + b"y" * 30_000
            box.save(MessageMeta(0, f"g{number}"), body(content))
            box.commit()
            stored.append(content)
    box.close()
    assert stored, "the disk filled before anything was stored"
    reread = storage_at(small_tmpfs / "Maildir").mailbox("INBOX")
    assert [reread.open_body(m.uid).read() for m in reread.messages()] == stored
    assert list((small_tmpfs / "Maildir" / "tmp").iterdir()) == []
    with pytest.raises(TemporaryError, match="disk full"):
        big = storage_at(small_tmpfs / "Maildir").mailbox("INBOX")
        big.save(MessageMeta(0, "big"), body(b"z" * 2_000_000))
    assert list((small_tmpfs / "Maildir" / "tmp").iterdir()) == []
