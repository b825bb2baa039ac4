"""The project's own sample Maildir."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dmf.mail.location import open_storage
from dmf.mail.sample import NASTY_BODIES, write_sample_maildir


def digest(root: Path) -> str:
    """Names, bytes, and the dates of the messages (control files are dated when written)."""
    hashed = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        hashed.update(str(path.relative_to(root)).encode())
        if path.is_file():
            hashed.update(path.read_bytes())
            if path.parent.name in ("cur", "new"):
                hashed.update(str(int(path.stat().st_mtime)).encode())
    return hashed.hexdigest()


def test_same_seed_same_tree(tmp_path: Path) -> None:
    write_sample_maildir(tmp_path / "a", messages=30, seed=7)
    write_sample_maildir(tmp_path / "b", messages=30, seed=7)
    write_sample_maildir(tmp_path / "c", messages=30, seed=8)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_sample_has_what_tests_rely_on(sample_maildir: Path) -> None:
    storage = open_storage(f"maildir:{sample_maildir}", user="u", home=None)
    names = {meta.name for meta in storage.list_mailboxes()}
    assert {"INBOX", "Archive/2024", "Entwürfe"} <= names
    bodies = {storage.mailbox("INBOX").open_body(message.uid).read()
              for message in storage.mailbox("INBOX").messages()}
    assert set(NASTY_BODIES) <= bodies
    every = [message for name in names for message in storage.mailbox(name).messages()]
    assert len(every) == 60
    assert any(message.keywords for message in every)
    assert any(message.flags for message in every)
    assert "Archive" not in storage.subscriptions()
