"""Small hand-made Maildirs for CLI tests: exact bytes, known flags and sizes."""

from __future__ import annotations

import os
from pathlib import Path

# (folder, subdir, filename stem, info flags or None, message bytes)
MESSAGES = (
    ("", "cur", "1700000001.M1P1.host", "S",
     b"Subject: first\r\nMessage-ID: <first@example.org>\r\n\r\nHello\r\n"),
    ("", "new", "1700000002.M2P1.host", None,
     b"Subject: second\nMessage-ID: <second@example.org>\n\nWorld\n"),
    ("", "cur", "1700000003.M3P1.host", "FS",
     b"Subject: third\nMessage-ID:\n <third@example.org>\n\nFolded header\n"),
    (".Archive", "cur", "1700000004.M4P1.host", "RS",
     b"Subject: archived\nMessage-ID: <arch@example.org>\n\nOld\n"),
    (".Archive.2024", "cur", "1700000005.M5P1.host", "",
     b"Subject: deep\nMessage-ID: <deep@example.org>\n\nDeep \xc3\xa9\n"),
)
FOLDERS = ("", ".Archive", ".Archive.2024", ".Empty")


def write_maildir(root: Path) -> Path:
    """A Maildir++ tree with INBOX, Archive, Archive.2024 and Empty; returns root."""
    for folder in FOLDERS:
        for sub in ("cur", "new", "tmp"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
    for index, (folder, sub, stem, flags, body) in enumerate(MESSAGES):
        name = f"{stem},S={len(body)}"
        if flags is not None:
            name += f":2,{flags}"
        path = root / folder / sub / name
        path.write_bytes(body)
        stamp = 1_700_000_000 + index * 3600
        os.utime(path, (stamp, stamp))
    (root / "subscriptions").write_text("Archive\nArchive.2024\n")
    return root
