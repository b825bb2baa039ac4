"""Replacing a small control file atomically: write a temp file, sync, rename, sync the dir
(each sync as the storage's Durability says; the directory's may be left to the caller).
A full disk is a TemporaryError and leaves the old file as it was."""

from __future__ import annotations

import contextlib
import errno
import os

from dmf.errors import PermissionDeniedError, TemporaryError
from dmf.mail.durability import Durability
from dmf.mail.maildir.ownership import Owner, give


def write_new(path: str, content: bytes, owner: Owner | None, durability: Durability) -> None:
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


def temp_for(path: str) -> str:
    """Where a new `path` (a file's, no trailing "/") is written before its rename (a name
    Dovecot never uses)."""
    return f"{path}.dmf-tmp"


def replace(path: str, content: bytes, owner: Owner | None, durability: Durability,
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
        durability.directory(os.path.dirname(path))


def discard(path: str | os.PathLike[str]) -> None:
    """Remove a file of ours that must not stay; on a read-only or vanished one, nothing to do."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def os_error(exc: OSError, path: str | os.PathLike[str]) -> Exception:
    """The dmf error for an OSError met while writing `path`."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TemporaryError(f"disk full writing {path}")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return PermissionDeniedError(f"cannot write {path}: {os.strerror(exc.errno)}")
    return exc
