"""A remembered Mailbox.summary(), so that a no-change run costs a few stat() calls per
mailbox instead of a uidlist parse and a directory listing.

The summary is kept in `dmf-summary` in the mailbox's control directory with the state it was
computed from: the inode, size and mtime of dovecot-uidlist and dovecot-keywords and of new/
and cur/ (every delivery, flag change and expunge changes one of them). It is reused
only when all of these are unchanged, and it is only written when each of those mtimes was at
least SETTLED_SECONDS older than the moment the computation started: a change made later, even
within the filesystem's timestamp granularity, then always shows as a different mtime. Dovecot
ignores the file; a copied tree has other inodes, so its summary is computed afresh.

The file is one line of text, `dmf-summary 1 COUNT DIGEST` and the four stamps
(`INODE:SIZE:MTIME_NS`, `-` for a missing file): reading it must cost a no-change run less than
importing json would.
"""

from __future__ import annotations

import contextlib
import os

from dmf.mail.maildir.ownership import Owner, give

CACHE_NAME = "dmf-summary"
_MAGIC = "dmf-summary 1"
SETTLED_SECONDS = 2.0
Stamps = list[tuple[int, int, int] | None]


def _file_stamp(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


def _encode_stamp(stamp: tuple[int, int, int] | None) -> str:
    return "-" if stamp is None else ":".join(map(str, stamp))


def stamps(mail_dir: str, control_dir: str) -> Stamps:
    """What a summary depends on, in the order stored."""
    return [_file_stamp(os.path.join(control_dir, "dovecot-uidlist")),
            _file_stamp(os.path.join(control_dir, "dovecot-keywords")),
            _file_stamp(os.path.join(mail_dir, "new")), _file_stamp(os.path.join(mail_dir, "cur"))]


def read(mail_dir: str, control_dir: str) -> tuple[int, str] | None:
    """The remembered summary if nothing it depends on has changed."""
    try:
        with open(os.path.join(control_dir, CACHE_NAME), encoding="ascii") as cache:
            line = cache.read()
    except (OSError, ValueError):
        return None
    fields = line.split()
    if " ".join(fields[:2]) != _MAGIC or len(fields) != 8 or not fields[2].isdigit():
        return None
    if fields[4:] != [_encode_stamp(stamp) for stamp in stamps(mail_dir, control_dir)]:
        return None
    return int(fields[2]), fields[3]


def write(control_dir: str, taken: Stamps, started_ns: int, summary: tuple[int, str],
          owner: Owner | None) -> None:
    """Remember a summary computed from the state `taken` just before it began, if that
    state had settled. Not fsynced: a torn or lost cache is only recomputed; a read-only
    tree is simply not cached."""
    settled_before = started_ns - int(SETTLED_SECONDS * 1e9)
    if None in (taken[0], taken[2], taken[3]) or any(
            stamp[2] > settled_before for stamp in taken if stamp is not None):
        return
    content = " ".join((_MAGIC, str(summary[0]), summary[1],
                        *map(_encode_stamp, taken))).encode("ascii") + b"\n"
    path = os.path.join(control_dir, CACHE_NAME)
    temp = os.path.join(control_dir, CACHE_NAME + ".tmp")
    with contextlib.suppress(OSError):
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            give(temp, owner)
            os.write(fd, content)
        finally:
            os.close(fd)
        os.rename(temp, path)
