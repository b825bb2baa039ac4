"""Pairing the message files in new/ and cur/ with dovecot-uidlist records, and cleaning up
after a run that was killed: finishing its interrupted commit, removing its temp files.

Functions here touch only the directories of one mailbox; the uidlist lock is the caller's.
"""

import contextlib
import os
import time
from typing import NamedTuple

from dmf.mail.durability import Durability
from dmf.mail.maildir import filenames, uidlist
from dmf.mail.maildir.liveness import alive
from dmf.mail.maildir.ownership import Owner, make_dirs
from dmf.mail.maildir.uidlist import UidList

STALE_TMP_SECONDS = 36 * 3600  # Dovecot's MAILDIR_TMP_DELETE_SECS


class MessageFile:
    """Where a message's file is; its name changes with its flags."""

    __slots__ = ("subdir", "name")  # no DirEntry kept: its stat costs ~600 bytes a message

    def __init__(self, subdir: str, name: str) -> None:
        self.subdir = subdir  # "new" or "cur"
        self.name = name


class Match(NamedTuple):
    files: dict[int, MessageFile]  # UID -> file, for every message on disk
    unlisted: list[int]  # UIDs just given to files the uidlist did not know
    changed: bool  # the uidlist needs writing (new files, or records without a file)


def list_messages(mail_dir: str, subdir: str, owner: Owner | None) -> list[os.DirEntry[str]]:
    """The message files of new/ or cur/; a missing directory is recreated, as Dovecot does."""
    path = os.path.join(mail_dir, subdir)
    try:
        return [entry for entry in os.scandir(path) if entry.name[0] != "."]
    except FileNotFoundError:
        with contextlib.suppress(OSError):  # read-only: an absent directory is empty
            make_dirs(path, owner)
        return []


def present_basenames(mail_dir: str) -> set[str]:
    return {name.partition(":")[0] for subdir in ("new", "cur")
            for name in os.listdir(os.path.join(mail_dir, subdir))}


def time_order(name: str) -> tuple[int, int, str]:
    """Dovecot numbers new files by delivery time, then microseconds."""
    seconds, _, rest = name.partition(".")
    micro = rest[1:rest.find("P")] if rest.startswith("M") else ""
    return (int(seconds) if seconds.isdigit() else 0,
            int(micro) if micro.isdigit() else 0, name)


def match(mail_dir: str, current: UidList | None, owner: Owner | None) -> Match:
    """Pair files on disk with uidlist records; files without one get the next UIDs."""
    on_disk: dict[str, MessageFile] = {}
    for subdir in ("new", "cur"):
        for entry in list_messages(mail_dir, subdir, owner):
            on_disk[entry.name.partition(":")[0]] = MessageFile(subdir, entry.name)
    files: dict[int, MessageFile] = {}
    changed = False
    records = current.records if current is not None else {}
    for uid, record in records.items():
        found = on_disk.pop(record.basename, None)
        if found is None:
            changed = True
        else:
            files[uid] = found
    nextuid = max(current.nextuid if current else 1, max(records, default=0) + 1)
    unlisted = []
    for found in sorted(on_disk.values(), key=lambda item: time_order(item.name)):
        files[nextuid] = found
        unlisted.append(nextuid)
        nextuid += 1
    return Match(files, unlisted, changed or bool(unlisted))


def _ours_and_dead(name: str, now: float, mtime: float) -> bool:
    """A dmf.* file in tmp/ left by a process that is gone (or very old)."""
    if now - mtime > STALE_TMP_SECONDS:
        return True
    pid_start = name.find("P", name.find(".M"))
    pid_text = name[pid_start + 1:name.find("Q", pid_start)] if pid_start > 0 else ""
    if not pid_text.isdigit() or f".{filenames.HOST}," not in name:
        return False
    return not alive(int(pid_text))


def stale_tmp_files(mail_dir: str) -> list[str]:
    """Our own temp files of killed runs (Dovecot's and other writers' are left alone)."""
    now = time.time()
    stale = []
    try:
        entries = list(os.scandir(os.path.join(mail_dir, "tmp")))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith(filenames.TMP_PREFIX):
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if _ours_and_dead(entry.name, now, mtime):
                stale.append(entry.path)
    return stale


def recover_pending(mail_dir: str, pending_path: str, current: UidList | None,
                    durability: Durability) -> UidList:
    """Finish a commit that was cut off (under the uidlist lock): move its bodies still in
    tmp/ into place and adopt its records; the pending file is removed. Records of bodies that
    were in unnamed files and died with the process find no file: the caller's match drops
    them."""
    with open(pending_path, "rb") as pending_file:
        content = pending_file.read()
    pending, _ = uidlist.parse(content, pending_path)
    wanted = {record.basename for record in pending.records.values()}
    for entry in list(os.scandir(os.path.join(mail_dir, "tmp"))):
        if not entry.name.startswith(filenames.TMP_PREFIX):
            continue
        final = entry.name[len(filenames.TMP_PREFIX):]
        base, letters = filenames.split(final)
        if base in wanted:
            os.rename(entry.path, os.path.join(mail_dir, "cur" if letters else "new", final))
    for subdir in ("new", "cur", "tmp"):
        durability.directory(os.path.join(mail_dir, subdir))
    if current is None:
        current = pending
    else:
        used = {record.basename for record in current.records.values()}
        for uid, record in pending.records.items():
            if uid not in current.records and record.basename not in used:
                current.records[uid] = record
        current.records = dict(sorted(current.records.items()))
        current.nextuid = max(current.nextuid, pending.nextuid)
    os.unlink(pending_path)
    return current
