"""Replacing a small control file atomically: write a temp file, sync, rename, sync the dir
(each sync as the storage's Durability says; the directory's may be left to the caller).
A full disk is a TemporaryError and leaves the old file as it was."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from dmf.errors import PermissionDeniedError, TemporaryError
from dmf.mail.durability import Durability
from dmf.mail.maildir.ownership import Owner, give


def write_new(path: Path, content: bytes, owner: Owner | None, durability: Durability) -> None:
    """Write `content` to `path` (truncating) and sync it; no rename."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            give(path, owner)
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            durability.file(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        discard(path)
        raise os_error(exc, path) from None


def temp_for(path: Path) -> Path:
    """Where a new `path` is written before its rename (a name Dovecot never uses)."""
    return path.with_name(f"{path.name}.dmf-tmp")


def replace(path: Path, content: bytes, owner: Owner | None, durability: Durability,
            sync_directory: bool = True) -> None:
    """Atomically make `path` hold `content`; without `sync_directory` the rename is made
    durable by the caller (a store's deferred syncs)."""
    temp = temp_for(path)
    write_new(temp, content, owner, durability)
    try:
        os.rename(temp, path)
    except OSError as exc:
        discard(temp)
        raise os_error(exc, path) from None
    if sync_directory:
        durability.directory(path.parent)


def discard(path: Path | str) -> None:
    """Remove a file of ours that must not stay; on a read-only or vanished one, nothing to do."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def os_error(exc: OSError, path: Path | str) -> Exception:
    """The dmf error for an OSError met while writing `path`."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TemporaryError(f"disk full writing {path}")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return PermissionDeniedError(f"cannot write {path}: {os.strerror(exc.errno)}")
    return exc
