"""The remembered summary: used only while nothing it depends on has changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dmf.mail.location import open_storage
from dmf.mail.maildir.summary_cache import CACHE_NAME
from dmf.mail.model import SEEN, MailboxChange


def summary(root: Path) -> object:
    return open_storage(f"maildir:{root}", user="u", home=None).mailbox("Sent").summary()


def age(root: Path, seconds: float) -> None:
    """Make the mailbox's state look `seconds` old (as if written long ago)."""
    when = time.time() - seconds
    for path in (root / "new", root / "cur", root / "dovecot-uidlist", root / "dovecot-keywords"):
        if path.exists():
            os.utime(path, (when, when))


def test_fresh_state_is_not_remembered(sample_maildir: Path) -> None:
    summary(sample_maildir)
    assert not (sample_maildir / ".Sent" / CACHE_NAME).exists()


def test_settled_state_is_remembered_and_used(sample_maildir: Path) -> None:
    sent = sample_maildir / ".Sent"
    summary(sample_maildir)  # numbers the folder if needed
    age(sent, 60)
    first = summary(sample_maildir)
    assert (sent / CACHE_NAME).exists()
    # prove the cache is what answers: spoil the uidlist in place, keeping its stamp
    uidlist = sent / "dovecot-uidlist"
    status = uidlist.stat()
    with open(uidlist, "r+b") as handle:
        handle.write(b"x" * status.st_size)
    os.utime(uidlist, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert summary(sample_maildir) == first


def test_any_change_invalidates(sample_maildir: Path) -> None:
    sent = sample_maildir / ".Sent"
    summary(sample_maildir)
    age(sent, 60)
    first = summary(sample_maildir)
    box = open_storage(f"maildir:{sample_maildir}", user="u", home=None).mailbox("Sent")
    message = next(box.messages())
    box.update_flags([MailboxChange(message.uid, message.flags ^ {SEEN}, message.keywords)])
    box.commit()
    assert summary(sample_maildir) != first
    (sent / "new" / "1800000000.M1P1.delivered").write_bytes(b"new mail\n")
    age(sent, 60)
    before_delivery = summary(sample_maildir)
    (sent / "new" / "1800000001.M1P1.delivered").write_bytes(b"more mail\n")
    assert summary(sample_maildir) != before_delivery


def test_unreadable_cache_is_computed_again(sample_maildir: Path) -> None:
    """A torn line, another dmf's format or garbage in dmf-summary only costs a computation."""
    sent = sample_maildir / ".Sent"
    summary(sample_maildir)
    age(sent, 60)
    first = summary(sample_maildir)
    line = (sent / CACHE_NAME).read_text()
    for spoiled in (line[: len(line) // 2], '{"stamps": [], "count": 1, "digest": "x"}',
                    "\x00\xff garbage", line.replace(" 1 ", " x ", 1), ""):
        (sent / CACHE_NAME).write_text(spoiled, "latin-1")
        assert summary(sample_maildir) == first
